//! The tokio driver: two tasks per connection move bytes between the socket and the sans-IO engine.
//!
//! The engine sits behind a mutex shared with every handle (client, channels), as in quinn. The reader task feeds
//! received bytes to the engine and wakes the handles; the writer task writes what the engine produced. Handles
//! never touch the socket: they change the engine and poke the writer.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Instant;

use amiko_proto::connection::{ChannelId, Connection, Event};
use amiko_proto::DisconnectReason;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::low_water::{self, LowWater};

/// The read buffer starts this small, so that each of a thousand idle connections costs little memory, and
/// doubles whenever a read fills it.
const FIRST_READ_CHUNK: usize = 4 * 1024;
/// Before authentication it grows no further than this: an unauthenticated peer gets little of our memory.
const PRE_AUTH_READ_CHUNK: usize = 16 * 1024;
/// After authentication it may grow to this: big reads keep the syscall count low on bulk transfers.
const READ_CHUNK: usize = 256 * 1024;
/// Channel writers wait when this much output is queued and not yet written to the socket.
pub(crate) const MAX_PENDING_TRANSMIT: usize = 4 << 20;
/// Application events kept for a handle that does not collect them (a server handler that is slow).
const MAX_APP_EVENTS: usize = 4096;

/// Per-channel notes the handles wait on.
#[derive(Default)]
pub(crate) struct ChannelNotes {
    pub open_failed: Option<(u32, String)>,
    pub replies: VecDeque<bool>,
}

/// The engine and the notes routed from its events.
pub(crate) struct Inner {
    pub conn: Connection,
    pub error: Option<Error>,
    pub events: VecDeque<Event>,
    pub notes: HashMap<ChannelId, ChannelNotes>,
    /// Remote forwarding: replies awaited and where incoming forwarded channels go (see forward.rs).
    pub forwards: crate::forward::ForwardRouting,
    wakers: Vec<Waker>,
    /// Client: the local agent socket that forwarded-agent channels are piped to, once forwarding was requested.
    pub agent_socket: Option<std::path::PathBuf>,
    /// The writer task has ended: everything queued was written and the socket shut down, or writing failed.
    pub writer_done: bool,
}

/// What the tasks and handles share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    wake_writer: Notify,
    shutdown: Notify,
    /// The engine's next deadline may have moved earlier (e.g. a keepalive interval was set): the reader re-reads it.
    rearm: Notify,
}

impl Shared {
    pub(crate) fn new(conn: Connection) -> Arc<Self> {
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                conn,
                error: None,
                events: VecDeque::new(),
                notes: HashMap::new(),
                forwards: Default::default(),
                wakers: Vec::new(),
                agent_socket: None,
                writer_done: false,
            }),
            wake_writer: Notify::new(),
            shutdown: Notify::new(),
            rearm: Notify::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the engine unusable; carry on with its state rather than panic again.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the reader task to look at the engine's deadline again.
    pub(crate) fn rearm_timer(&self) {
        self.rearm.notify_one();
    }

    /// Tells the writer task there may be output.
    pub(crate) fn kick(&self) {
        self.wake_writer.notify_one();
    }

    /// Waits until `f` returns Some, re-checking after each change of the connection. The connection's error is
    /// returned if it ends first. `f` may change the engine; the writer is kicked when there is output.
    pub(crate) async fn wait<T>(&self, mut f: impl FnMut(&mut Inner) -> Option<Result<T>>) -> Result<T> {
        poll_fn(|cx| {
            let mut g = self.lock();
            // Events caused by the application's own calls (an auth_accept, say) are routed here too.
            g.route_events();
            let r = f(&mut g);
            // What the caller queued before waiting, or `f` queued now (a window adjust while reading, say), must
            // go out, or the peer could wait for it forever. Only then: waking the writer for nothing costs a
            // thread wake-up when the caller is not on the runtime (the blocking API, Python).
            if g.writer_has_work() {
                self.kick();
            }
            if let Some(r) = r {
                return Poll::Ready(r);
            }
            if let Some(e) = &g.error {
                return Poll::Ready(Err(e.clone()));
            }
            g.register(cx.waker());
            Poll::Pending
        })
        .await
    }
}

impl Inner {
    pub(crate) fn register(&mut self, w: &Waker) {
        if !self.wakers.iter().any(|x| x.will_wake(w)) {
            self.wakers.push(w.clone());
        }
    }

    /// Whether the writer task has something to do: output to send, or a closed connection to shut down.
    fn writer_has_work(&self) -> bool {
        self.conn.pending_transmit() > 0 || self.conn.is_closed()
    }

    fn wake_all(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }

    /// Moves the registered wakers into `into` (empty, its capacity kept from the last time), to be woken once the
    /// lock is released: a thread woken while we hold it would only block on the lock.
    fn take_wakers(&mut self, into: &mut Vec<Waker>) {
        std::mem::swap(&mut self.wakers, into);
    }

    /// Moves the engine's events to where handles look for them.
    pub(crate) fn route_events(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::ChannelOpenFailed {
                    id,
                    reason,
                    description,
                } => {
                    self.notes.entry(id).or_default().open_failed = Some((reason, description));
                }
                Event::ChannelReply { id, success } => self.notes.entry(id).or_default().replies.push_back(success),
                Event::ChannelOpened(_) | Event::KexDone => {}
                ev @ (Event::GlobalReply { .. } | Event::ForwardedChannel { .. }) => {
                    crate::forward::route(&mut self.conn, &mut self.forwards, ev)
                }
                Event::ChannelEof(_) | Event::ChannelClosed(_)
                    if self.conn.role() == amiko_proto::config::Role::Client => {}
                Event::Closed(e) => {
                    if self.error.is_none() {
                        self.error = Some(Error::Proto(e.clone()));
                    }
                    self.events.push_back(Event::Closed(e));
                }
                other => {
                    if self.events.len() < MAX_APP_EVENTS {
                        self.events.push_back(other);
                    } else {
                        self.conn
                            .disconnect(DisconnectReason::ByApplication, "too many unhandled events");
                    }
                }
            }
        }
    }

    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
        self.conn.handle_eof();
        self.route_events();
        self.wake_all();
    }
}

/// Starts the reader and writer tasks for `stream`.
pub(crate) fn spawn<S>(stream: S, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    // A TCP socket is split into owned halves: no lock between reader and writer, and the reader reaches the
    // socket for its low-water mark. Any other stream (a jump channel, a test pipe) goes through tokio's split.
    let mut slot = Some(stream);
    if let Some(tcp) = (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<TcpStream>>()
        .and_then(Option::take)
    {
        let (rd, wr) = tcp.into_split();
        tokio::spawn(reader(rd, shared.clone()));
        tokio::spawn(writer(wr, shared));
    } else if let Some(stream) = slot {
        let (rd, wr) = tokio::io::split(stream);
        tokio::spawn(reader(rd, shared.clone()));
        tokio::spawn(writer(wr, shared));
    }
}

/// The reading half of a connection's stream, and its socket when it has one.
trait ReadSide: AsyncRead + Unpin {
    fn socket(&self) -> Option<BorrowedFd<'_>>;
}

impl ReadSide for OwnedReadHalf {
    fn socket(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_ref().as_fd())
    }
}

impl<S: AsyncRead> ReadSide for ReadHalf<S> {
    fn socket(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// What ended one wait of the reader.
enum Woken {
    Read(std::io::Result<usize>),
    /// The engine's deadline (rekey, keepalive, a timeout) passed.
    Deadline,
    /// Nothing was read for [`low_water::QUIET`] while the low-water mark was up.
    Quiet,
}

async fn reader<R: ReadSide>(mut rd: R, shared: Arc<Shared>) {
    let mut buf = vec![0u8; FIRST_READ_CHUNK];
    let mut to_wake = Vec::new();
    // buf[start..end] is the beginning of a packet not yet complete, left here by the engine: the next read goes in
    // behind it, so the packet is decrypted where it lies instead of being copied into the engine first.
    let (mut start, mut end) = (0, 0);
    let mut filled_room = false;
    // One timer for the connection's life, moved only when the engine's deadline changes: the rekey deadline is
    // set from authentication on, and registering a fresh timer for every read cost a timer-wheel insert and
    // removal per read plus, often, a wakeup write to the runtime's eventfd.
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    let mut low_water = LowWater::new(rd.socket());
    let quiet = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(quiet);
    loop {
        let deadline = {
            let mut g = shared.lock();
            if g.error.is_some() && g.conn.is_closed() {
                return;
            }
            let limit = if g.conn.is_authenticated() {
                READ_CHUNK
            } else {
                PRE_AUTH_READ_CHUNK
            };
            if filled_room && buf.len() < limit {
                buf.resize(buf.len() * 2, 0);
            }
            if start == end {
                (start, end) = (0, 0);
            } else if buf.len() - end < buf.len() / 4 {
                // Little room is left behind the partial packet: move it to the front (less than a packet, once
                // per three quarters of a buffer read).
                buf.copy_within(start..end, 0);
                (start, end) = (0, end - start);
                if buf.len() - end < buf.len() / 4 {
                    // A packet nearly as big as our buffer (or bigger): rather than read it in small pieces, let
                    // the engine's own buffer take it from here on.
                    let _ = g.conn.handle_input(&buf[..end]);
                    (start, end) = (0, 0);
                }
            }
            g.conn.poll_timeout()
        };
        if let Some(d) = deadline {
            if armed != Some(d) {
                sleep.as_mut().reset(d.into());
                armed = Some(d);
            }
        }
        let woken = tokio::select! {
            r = rd.read(&mut buf[end..]) => Woken::Read(r),
            _ = &mut sleep, if deadline.is_some() => Woken::Deadline,
            _ = &mut quiet, if low_water.raised() => Woken::Quiet,
            _ = shared.shutdown.notified() => return,
            _ = shared.rearm.notified() => continue,
        };
        match woken {
            Woken::Read(Ok(n)) => {
                low_water.after_read(rd.socket(), n);
                if low_water.raised() {
                    quiet.as_mut().reset(tokio::time::Instant::now() + low_water::QUIET);
                }
            }
            Woken::Quiet => {
                low_water.lower(rd.socket());
                continue;
            }
            Woken::Read(Err(_)) | Woken::Deadline => {}
        }
        {
            let mut g = shared.lock();
            match woken {
                Woken::Read(Ok(0)) => {
                    g.fail(Error::Proto(amiko_proto::Error::Closed));
                    drop(g);
                    shared.kick();
                    return;
                }
                Woken::Read(Ok(n)) => {
                    filled_room = end + n == buf.len();
                    end += n;
                    match g.conn.handle_input_in_place_partial(&mut buf[start..end]) {
                        Ok(used) => start += used,
                        Err(_) => start = end,
                    }
                }
                Woken::Read(Err(e)) => {
                    g.fail(Error::io("reading from the connection", e));
                    drop(g);
                    shared.kick();
                    return;
                }
                Woken::Deadline | Woken::Quiet => {}
            }
            let _ = g.conn.handle_timeout(Instant::now());
            g.route_events();
            // Most reads on a bulk transfer only add channel data: the writer has nothing to send (no window
            // adjust, no reply) and would wake, lock and find nothing.
            if g.writer_has_work() {
                shared.kick();
            }
            // Woken once the lock is released: a thread woken while we hold it would only block on the lock.
            g.take_wakers(&mut to_wake);
        }
        if !to_wake.is_empty() {
            to_wake.drain(..).for_each(Waker::wake);
            // Let the woken handles run before the next read. Without this the loop goes on reading while the
            // socket has data (up to tokio's budget of 128 reads), piling megabytes into the channel buffer: the
            // consumer then copies them out cold from memory (on `amiko exec ... | cat` the pipe write's copy cost
            // several times what it does on data still in cache).
            tokio::task::yield_now().await;
        }
    }
}

async fn writer<W: AsyncWrite + Unpin>(mut wr: W, shared: Arc<Shared>) {
    // Swapped with the engine's output buffer on every take, so it grows only as far as the output does.
    let mut out = Vec::new();
    let mut to_wake = Vec::new();
    loop {
        let closed = {
            let mut g = shared.lock();
            g.conn.take_transmit(&mut out);
            if !out.is_empty() {
                // Writers blocked on a full transmit queue may go on (woken below, after the lock is released).
                g.take_wakers(&mut to_wake);
            }
            g.conn.is_closed()
        };
        to_wake.drain(..).for_each(Waker::wake);
        if !out.is_empty() {
            if let Err(e) = wr.write_all(&out).await {
                let mut g = shared.lock();
                g.writer_done = true;
                g.fail(Error::io("writing to the connection", e));
                drop(g);
                shared.shutdown.notify_one();
                return;
            }
            continue;
        }
        if closed {
            let _ = wr.shutdown().await;
            let mut g = shared.lock();
            g.writer_done = true;
            if g.error.is_none() {
                g.fail(Error::Proto(amiko_proto::Error::Closed));
            } else {
                g.wake_all();
            }
            drop(g);
            shared.shutdown.notify_one();
            return;
        }
        shared.wake_writer.notified().await;
    }
}

/// Keeps the connection alive while any handle exists; the last one dropped ends it with a DISCONNECT.
pub(crate) struct Owner {
    pub shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared
            .lock()
            .conn
            .disconnect(DisconnectReason::ByApplication, "closed by application");
        self.shared.kick();
    }
}
