//! Async channels: requests, streaming data both ways (AsyncRead/AsyncWrite), EOF, close and exit status.

use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use amiko_proto::connection::{ChannelId, ChannelRequest, ChannelState, PtyRequest};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::driver::{Inner, Owner, Shared, MAX_PENDING_TRANSMIT};
use crate::error::{Error, Result};

/// A session channel. Reads give the remote stdout (see [`Channel::read_stderr`] for stderr), writes go to the
/// remote stdin. Dropping it closes the channel.
pub struct Channel {
    owner: Arc<Owner>,
    id: ChannelId,
}

fn proto(e: amiko_proto::Error) -> Error {
    Error::Proto(e)
}

impl Channel {
    pub(crate) async fn open_session(owner: Arc<Owner>) -> Result<Channel> {
        let id = owner.shared.lock().conn.channel_open_session().map_err(proto)?;
        Self::wait_open(owner, id).await
    }

    pub(crate) async fn open_direct_tcpip(owner: Arc<Owner>, host: &str, port: u16) -> Result<Channel> {
        let id = owner
            .shared
            .lock()
            .conn
            .channel_open_direct_tcpip(host, port, ("127.0.0.1", 0))
            .map_err(proto)?;
        Self::wait_open(owner, id).await
    }

    /// Server: opens an "auth-agent@openssh.com" channel to a client that asked for agent forwarding.
    pub(crate) async fn open_agent(owner: Arc<Owner>) -> Result<Channel> {
        let id = owner.shared.lock().conn.channel_open_agent().map_err(proto)?;
        Self::wait_open(owner, id).await
    }

    /// Client: opens a "direct-streamlocal@openssh.com" channel to the Unix socket `path` on the server.
    pub(crate) async fn open_direct_streamlocal(owner: Arc<Owner>, path: &str) -> Result<Channel> {
        let id = owner
            .shared
            .lock()
            .conn
            .channel_open_direct_streamlocal(path)
            .map_err(proto)?;
        Self::wait_open(owner, id).await
    }

    /// Server: a channel for a connection to a remote forward (forwarded-tcpip or forwarded-streamlocal).
    pub(crate) async fn open_forwarded(
        owner: Arc<Owner>,
        to: &amiko_proto::connection::ForwardTarget,
        originator: (&str, u16),
    ) -> Result<Channel> {
        use amiko_proto::connection::ForwardTarget;
        let id = {
            let mut g = owner.shared.lock();
            match to {
                ForwardTarget::Tcp { address, port } => g.conn.channel_open_forwarded_tcpip(address, *port, originator),
                ForwardTarget::Unix(path) => g.conn.channel_open_forwarded_streamlocal(path),
            }
        }
        .map_err(proto)?;
        Self::wait_open(owner, id).await
    }

    async fn wait_open(owner: Arc<Owner>, id: ChannelId) -> Result<Channel> {
        owner.shared.kick();
        let ch = Channel { owner, id };
        ch.shared()
            .wait(|g| {
                if let Some((reason, text)) = g.notes.get_mut(&id).and_then(|n| n.open_failed.take()) {
                    return Some(Err(Error::Channel(format!("channel open refused ({reason}): {text}"))));
                }
                match g.conn.channel(id)?.state {
                    ChannelState::Open => Some(Ok(())),
                    _ => None,
                }
            })
            .await?;
        Ok(ch)
    }

    /// Wraps a channel the peer opened (server side).
    pub(crate) fn from_id(owner: Arc<Owner>, id: ChannelId) -> Channel {
        Channel { owner, id }
    }

    fn shared(&self) -> &Shared {
        &self.owner.shared
    }

    /// The channel's number on our side.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Sends a request and waits for the server's answer.
    pub async fn request(&self, req: &ChannelRequest) -> Result<bool> {
        let id = self.id;
        self.shared().lock().conn.channel_request(id, req).map_err(proto)?;
        self.shared().kick();
        self.shared()
            .wait(|g| {
                if let Some(ok) = g.notes.get_mut(&id).and_then(|n| n.replies.pop_front()) {
                    return Some(Ok(ok));
                }
                match g.conn.channel(id) {
                    Some(c) if c.state == ChannelState::Open => None,
                    _ => Some(Err(Error::Proto(amiko_proto::Error::ChannelClosed))),
                }
            })
            .await
    }

    async fn request_ok(&self, req: &ChannelRequest, what: &str) -> Result<()> {
        match self.request(req).await? {
            true => Ok(()),
            false => Err(Error::Channel(format!("the server refused {what}"))),
        }
    }

    /// Runs a command (RFC 4254 §6.5).
    pub async fn exec(&self, command: &str) -> Result<()> {
        self.request_ok(&ChannelRequest::Exec(command.into()), "the command")
            .await
    }

    /// Starts the user's shell.
    pub async fn shell(&self) -> Result<()> {
        self.request_ok(&ChannelRequest::Shell, "the shell").await
    }

    /// Starts a subsystem such as `sftp`.
    pub async fn subsystem(&self, name: &str) -> Result<()> {
        self.request_ok(&ChannelRequest::Subsystem(name.into()), &format!("subsystem {name}"))
            .await
    }

    /// Asks the server to forward the ssh-agent at `socket` (ssh's `-A`) for what this session runs; returns whether
    /// the server agreed. From then on the server's "auth-agent@openssh.com" channels are piped to that socket
    /// (without this request they are refused). Request it before `exec` or `shell`.
    pub async fn request_agent_forwarding(&self, socket: &std::path::Path) -> Result<bool> {
        crate::agent_forward::start_client_forwarding(&self.owner, socket);
        self.request(&ChannelRequest::AuthAgent).await
    }

    /// Asks for a pseudo-terminal.
    pub async fn request_pty(&self, pty: PtyRequest) -> Result<()> {
        self.request_ok(&ChannelRequest::Pty(pty), "the pty").await
    }

    /// Sets an environment variable; returns whether the server accepted it (OpenSSH only accepts AcceptEnv names).
    pub async fn env(&self, name: &str, value: &str) -> Result<bool> {
        self.request(&ChannelRequest::Env {
            name: name.into(),
            value: value.into(),
        })
        .await
    }

    /// Tells the server the terminal size changed.
    pub fn window_change(&self, cols: u32, rows: u32) -> Result<()> {
        let req = ChannelRequest::WindowChange {
            cols,
            rows,
            width_px: 0,
            height_px: 0,
        };
        self.shared()
            .lock()
            .conn
            .channel_request(self.id, &req)
            .map_err(proto)?;
        self.shared().kick();
        Ok(())
    }

    /// Sends a signal (name without SIG, e.g. "TERM").
    pub fn signal(&self, name: &str) -> Result<()> {
        self.shared()
            .lock()
            .conn
            .channel_request(self.id, &ChannelRequest::Signal(name.into()))
            .map_err(proto)?;
        self.shared().kick();
        Ok(())
    }

    /// Sends an exit status (server side).
    pub fn send_exit_status(&self, status: u32) -> Result<()> {
        self.shared()
            .lock()
            .conn
            .channel_request(self.id, &ChannelRequest::ExitStatus(status))
            .map_err(proto)?;
        self.shared().kick();
        Ok(())
    }

    /// Sends an exit signal (server side).
    pub fn send_exit_signal(&self, signal: &str, core_dumped: bool) -> Result<()> {
        let req = ChannelRequest::ExitSignal {
            signal: signal.into(),
            core_dumped,
            message: String::new(),
        };
        self.shared()
            .lock()
            .conn
            .channel_request(self.id, &req)
            .map_err(proto)?;
        self.shared().kick();
        Ok(())
    }

    fn poll_read_inner(&self, cx: &mut Context<'_>, stderr: bool, buf: Dest<'_>) -> Poll<Result<usize>> {
        let mut g = self.shared().lock();
        let id = self.id;
        let Some(c) = g.conn.channel(id) else {
            return Poll::Ready(Ok(0));
        };
        if c.readable(stderr) > 0 {
            let r = match buf {
                Dest::Slice(buf) => g.conn.channel_recv(id, stderr, buf),
                Dest::Vec(buf) => g.conn.channel_recv_swap(id, stderr, buf),
                Dest::Append(buf, max) => g.conn.channel_consume_with(id, stderr, |a, _| {
                    let n = a.len().min(max);
                    buf.extend_from_slice(&a[..n]);
                    n
                }),
            }
            .map_err(proto);
            drop(g);
            self.shared().kick();
            return Poll::Ready(r);
        }
        if c.eof_received || c.state == ChannelState::Closed {
            return Poll::Ready(Ok(0));
        }
        if let Some(e) = &g.error {
            return Poll::Ready(Err(e.clone()));
        }
        g.register(cx.waker());
        Poll::Pending
    }

    fn poll_write_inner(&self, cx: &mut Context<'_>, ext: Option<u32>, data: &[u8]) -> Poll<Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut g = self.shared().lock();
        if let Some(e) = &g.error {
            return Poll::Ready(Err(e.clone()));
        }
        let id = self.id;
        let Some(c) = g.conn.channel(id) else {
            return Poll::Ready(Err(proto(amiko_proto::Error::ChannelClosed)));
        };
        if c.state != ChannelState::Open || c.close_received() {
            return Poll::Ready(Err(proto(amiko_proto::Error::ChannelClosed)));
        }
        if c.send_window() > 0 && g.conn.pending_transmit() < MAX_PENDING_TRANSMIT {
            let r = g.conn.channel_send(id, data, ext).map_err(proto);
            drop(g);
            self.shared().kick();
            return Poll::Ready(r);
        }
        g.register(cx.waker());
        Poll::Pending
    }

    /// Reads remote stdout; 0 at EOF.
    pub async fn read(&self, buf: &mut [u8]) -> Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_inner(cx, false, Dest::Slice(&mut *buf))).await
    }

    /// Reads remote stderr; 0 at EOF.
    pub async fn read_stderr(&self, buf: &mut [u8]) -> Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_inner(cx, true, Dest::Slice(&mut *buf))).await
    }

    /// Waits for remote stdout and replaces `buf`'s contents with all that has arrived; 0 at EOF. For bulk
    /// copies: the received bytes usually change hands without being copied, and passing the same `Vec` each
    /// time recycles its capacity. At most one channel window (2 MiB by default) comes back at once.
    ///
    /// ```no_run
    /// # async fn f(ch: amiko::Channel) -> amiko::Result<()> {
    /// use std::io::Write;
    /// let mut buf = Vec::new();
    /// while ch.read_available(&mut buf).await? > 0 {
    ///     std::io::stdout().write_all(&buf).unwrap();
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn read_available(&self, buf: &mut Vec<u8>) -> Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_inner(cx, false, Dest::Vec(&mut *buf))).await
    }

    /// Waits for remote stdout and appends up to `max` bytes of it to `buf` (one copy, and no zeroing of `buf`
    /// first as a slice would need); 0 at EOF.
    pub(crate) async fn read_append(&self, buf: &mut Vec<u8>, max: usize) -> Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_inner(cx, false, Dest::Append(&mut *buf, max))).await
    }

    /// [`Channel::read_available`] for remote stderr.
    pub async fn read_stderr_available(&self, buf: &mut Vec<u8>) -> Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_inner(cx, true, Dest::Vec(&mut *buf))).await
    }

    /// Writes to the remote stdin as much as the window allows now (at least one byte).
    pub async fn write(&self, data: &[u8]) -> Result<usize> {
        std::future::poll_fn(|cx| self.poll_write_inner(cx, None, data)).await
    }

    /// Writes all of `data`.
    pub async fn write_all_data(&self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let n = std::future::poll_fn(|cx| self.poll_write_inner(cx, None, data)).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Writes all of `data` as stderr (extended data type 1; server side).
    pub async fn write_stderr_all(&self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let n = std::future::poll_fn(|cx| self.poll_write_inner(cx, Some(1), data)).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Sends EOF: the remote command sees the end of its stdin.
    pub async fn eof(&self) -> Result<()> {
        self.shared().lock().conn.channel_eof(self.id).map_err(proto)?;
        self.shared().kick();
        Ok(())
    }

    /// Closes the channel.
    pub fn close(&self) -> Result<()> {
        self.shared().lock().conn.channel_close(self.id).map_err(proto)?;
        self.shared().kick();
        Ok(())
    }

    /// Reads stdout and stderr to their ends, both at once (so neither can block the other).
    pub async fn read_to_end_both(&mut self, out: &mut Vec<u8>, err: &mut Vec<u8>) -> Result<()> {
        let id = self.id;
        self.shared()
            .wait(|g: &mut Inner| loop {
                let c = g.conn.channel(id)?;
                let (o, e) = (c.readable(false), c.readable(true));
                let done = c.eof_received || c.state == ChannelState::Closed;
                if o == 0 && e == 0 {
                    return if done { Some(Ok(())) } else { None };
                }
                for (stderr, dst) in [(false, &mut *out), (true, &mut *err)] {
                    let r = g.conn.channel_consume_with(id, stderr, |a, b| {
                        dst.extend_from_slice(a);
                        dst.extend_from_slice(b);
                        a.len() + b.len()
                    });
                    if let Err(e) = r {
                        return Some(Err(proto(e)));
                    }
                }
            })
            .await
    }

    /// Reads one stream (stdout, or stderr if `stderr`) to its end, appending to `out`. The other stream is left
    /// buffered: if the command writes much to it without it being read, the window fills and the command stalls
    /// (as in Paramiko); use [`Channel::read_to_end_both`] when both matter, or
    /// [`Channel::read_stream_setting_aside`] with a [`SetAside`](crate::SetAside).
    pub async fn read_stream_to_end(&self, stderr: bool, out: &mut Vec<u8>) -> Result<()> {
        self.read_stream_with(stderr, |data| out.extend_from_slice(data)).await
    }

    /// Reads one stream to its end, handing each piece to `sink` as it arrives (no intermediate buffer).
    pub async fn read_stream_with(&self, stderr: bool, mut sink: impl FnMut(&[u8])) -> Result<()> {
        let go_on = |data: &[u8]| {
            sink(data);
            ControlFlow::Continue(())
        };
        self.read_stream_inner(stderr, go_on, None::<fn(&[u8], &[u8]) -> usize>)
            .await
            .map(drop)
    }

    /// [`Channel::read_stream_with`] that also offers the other stream's output, as it arrives, to `aside`: it
    /// gets the buffered bytes as two slices and returns how many it took (0 to leave them, say while another
    /// reader has that stream). Taking them keeps the command from stalling on a full window while only one
    /// stream is read; what `aside` keeps is then as bounded as the output the caller asked to read whole.
    ///
    /// `sink` and `aside` run under the connection's lock, so they must not wait on anything that could wait
    /// for the connection. `sink` takes every byte it is handed; by returning [`ControlFlow::Break`] it makes
    /// the read return `Ok(false)` then (to prepare more room, say), and a next call goes on where this one
    /// stopped. `Ok(true)` means the stream has ended.
    pub async fn read_stream_setting_aside(
        &self,
        stderr: bool,
        sink: impl FnMut(&[u8]) -> ControlFlow<()>,
        aside: impl FnMut(&[u8], &[u8]) -> usize,
    ) -> Result<bool> {
        self.read_stream_inner(stderr, sink, Some(aside)).await
    }

    async fn read_stream_inner(
        &self,
        stderr: bool,
        mut sink: impl FnMut(&[u8]) -> ControlFlow<()>,
        mut aside: Option<impl FnMut(&[u8], &[u8]) -> usize>,
    ) -> Result<bool> {
        let id = self.id;
        self.shared()
            .wait(|g: &mut Inner| loop {
                if let Some(aside) = aside
                    .as_mut()
                    .filter(|_| g.conn.channel(id).is_some_and(|c| c.readable(!stderr) > 0))
                {
                    let r = g.conn.channel_consume_with(id, !stderr, |a, b| aside(a, b));
                    if let Err(e) = r {
                        return Some(Err(proto(e)));
                    }
                }
                // Consume, then look again: EOF may have come with the data, and no later change would wake us.
                let c = g.conn.channel(id)?;
                if c.readable(stderr) == 0 {
                    let done = c.eof_received || c.state == ChannelState::Closed;
                    return done.then_some(Ok(true));
                }
                let mut pause = false;
                let r = g.conn.channel_consume_with(id, stderr, |a, b| {
                    pause |= sink(a).is_break();
                    pause |= sink(b).is_break();
                    a.len() + b.len()
                });
                if let Err(e) = r {
                    return Some(Err(proto(e)));
                }
                if pause {
                    return Some(Ok(false));
                }
            })
            .await
    }

    /// Waits until the exit status arrives or the channel closes, and returns the status; the channel stays as it
    /// is, so output still buffered can be read afterwards.
    pub async fn wait_exit_status(&self) -> Result<Option<u32>> {
        let id = self.id;
        self.shared()
            .wait(|g| match g.conn.channel(id) {
                None => Some(Ok(None)),
                Some(c) if c.exit_status.is_some() || c.close_received() || c.state == ChannelState::Closed => {
                    Some(Ok(c.exit_status))
                }
                Some(_) => None,
            })
            .await
    }

    /// Waits for the channel to close and returns the exit status and exit signal the server sent.
    pub async fn wait_exit(&self) -> Result<(Option<u32>, Option<String>)> {
        let id = self.id;
        self.shared()
            .wait(|g| {
                let c = g.conn.channel(id)?;
                if c.close_received() || c.state == ChannelState::Closed {
                    // Read data left unread does not matter now; close our side too.
                    let r = (c.exit_status, c.exit_signal.clone());
                    let _ = g.conn.channel_close(id);
                    return Some(Ok(r));
                }
                None
            })
            .await
    }

    /// Exit status if it has arrived.
    pub fn exit_status(&self) -> Option<u32> {
        self.shared().lock().conn.channel(self.id).and_then(|c| c.exit_status)
    }

    /// Whether the peer sent EOF or closed.
    pub fn is_eof(&self) -> bool {
        self.shared()
            .lock()
            .conn
            .channel(self.id)
            .is_none_or(|c| c.eof_received)
    }

    /// Whether the channel is closed (by either side) or gone.
    pub fn is_closed(&self) -> bool {
        let g = self.shared().lock();
        g.conn
            .channel(self.id)
            .is_none_or(|c| c.state == ChannelState::Closed || c.close_received())
    }

    /// Bytes ready to read now, stdout or stderr.
    pub fn readable(&self, stderr: bool) -> usize {
        self.shared()
            .lock()
            .conn
            .channel(self.id)
            .map_or(0, |c| c.readable(stderr))
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        let _ = self.shared().lock().conn.channel_release(self.id);
        self.shared().kick();
    }
}

impl AsyncRead for Channel {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match self.poll_read_inner(cx, false, Dest::Slice(dst)) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Channel {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        self.poll_write_inner(cx, None, data).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = self.shared().lock().conn.channel_eof(self.id);
        self.shared().kick();
        Poll::Ready(r.map_err(|e| Error::Proto(e).into()))
    }
}

/// A channel shared behind an `Arc` that is still a byte stream (AsyncRead + AsyncWrite), e.g. to run another SSH
/// connection over a direct-tcpip channel held elsewhere too.
#[derive(Clone)]
pub struct SharedChannel(pub Arc<Channel>);

impl AsyncRead for SharedChannel {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match self.0.poll_read_inner(cx, false, Dest::Slice(dst)) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for SharedChannel {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.poll_write_inner(cx, None, data).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = self.0.shared().lock().conn.channel_eof(self.0.id);
        self.0.shared().kick();
        Poll::Ready(r.map_err(|e| Error::Proto(e).into()))
    }
}

/// Where a read puts the bytes: a caller's slice (copied), a caller's `Vec` (swapped in when possible), or the end
/// of a caller's `Vec` (at most so many bytes, copied).
enum Dest<'a> {
    Slice(&'a mut [u8]),
    Vec(&'a mut Vec<u8>),
    Append(&'a mut Vec<u8>, usize),
}
