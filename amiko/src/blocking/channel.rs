//! Paramiko's Channel and the file objects of `exec_command`.

use std::io::{self, BufRead, Read, Write};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use amiko_proto::connection::PtyRequest;

use super::block_on;
use crate::error::{Error, Result};
use crate::SetAside;

/// The most one `recv` call takes: its buffer is allocated up front, and `recv(usize::MAX)` must not try to.
const MAX_RECV: usize = 4 << 20;

/// A channel with Paramiko's method names. Clones share the channel.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<crate::Channel>,
    /// Output of one stream taken while the other was read whole (`read_to_end` on the command's stdout or
    /// stderr), served before what the channel still holds.
    aside: Arc<SetAside>,
    timeout: Option<Duration>,
}

impl Channel {
    pub(crate) fn new(inner: crate::Channel) -> Self {
        Channel {
            inner: Arc::new(inner),
            aside: Arc::default(),
            timeout: None,
        }
    }

    /// The channel number.
    pub fn get_id(&self) -> u32 {
        self.inner.id()
    }

    /// Whether the channel is closed.
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Runs a command on this channel. A channel runs one command; reusing it fails with "Channel is not open".
    pub fn exec_command(&self, command: &str) -> Result<()> {
        if self.closed() {
            return Err(Error::Proto(amiko_proto::Error::ChannelClosed));
        }
        block_on(self.inner.exec(command))
    }

    /// Asks for a pseudo-terminal (`term`, width, height), as Paramiko's `get_pty`.
    pub fn get_pty(&self, term: &str, width: u32, height: u32) -> Result<()> {
        let pty = PtyRequest {
            term: term.into(),
            cols: width,
            rows: height,
            ..Default::default()
        };
        block_on(self.inner.request_pty(pty))
    }

    /// Starts the shell.
    pub fn invoke_shell(&self) -> Result<()> {
        block_on(self.inner.shell())
    }

    /// Starts a subsystem.
    pub fn invoke_subsystem(&self, name: &str) -> Result<()> {
        block_on(self.inner.subsystem(name))
    }

    /// Whether stdout data is ready (or the channel reached EOF, so `recv` will not block).
    pub fn recv_ready(&self) -> bool {
        self.aside.buffered(false) + self.inner.readable(false) > 0
    }

    /// Whether stderr data is ready.
    pub fn recv_stderr_ready(&self) -> bool {
        self.aside.buffered(true) + self.inner.readable(true) > 0
    }

    /// Whether the exit status has arrived.
    pub fn exit_status_ready(&self) -> bool {
        self.inner.exit_status().is_some() || self.closed()
    }

    /// Sets a timeout for blocking reads and writes (None: wait forever).
    pub fn settimeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    fn timed<T>(&self, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        block_on(async {
            match self.timeout {
                Some(t) => tokio::time::timeout(t, f).await.map_err(|_| Error::Io {
                    context: "channel".into(),
                    message: "timed out".into(),
                    kind: io::ErrorKind::TimedOut,
                })?,
                None => f.await,
            }
        })
    }

    /// Receives up to `n` bytes of stdout (at most 4 MiB at a time); empty at EOF.
    pub fn recv(&self, n: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n.min(MAX_RECV)];
        let got = self.read_some(false, &mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// Receives up to `n` bytes of stderr (at most 4 MiB at a time); empty at EOF.
    pub fn recv_stderr(&self, n: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n.min(MAX_RECV)];
        let got = self.read_some(true, &mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// Reads what is there of stdout (or stderr), bytes set aside first; waits for some; 0 at EOF.
    fn read_some(&self, stderr: bool, buf: &mut [u8]) -> Result<usize> {
        let _reading = self.aside.reading(stderr);
        let n = self.aside.take(stderr, buf.len(), |b| {
            buf[..b.len()].copy_from_slice(b);
            b.len()
        });
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        if stderr {
            self.timed(self.inner.read_stderr(buf))
        } else {
            self.timed(self.inner.read(buf))
        }
    }

    /// Reads stdout (or stderr) to its end, appending to `out`. The other stream's output is set aside meanwhile,
    /// unless something else is reading it, so a command writing much to both cannot stall on a full window (as
    /// Paramiko's `stdout.read()` would).
    fn read_whole(&self, stderr: bool, out: &mut Vec<u8>) -> Result<()> {
        let _reading = self.aside.reading(stderr);
        self.aside.take(stderr, usize::MAX, |b| out.extend_from_slice(b));
        let sink = |d: &[u8]| {
            out.extend_from_slice(d);
            ControlFlow::Continue(())
        };
        let other = |a: &[u8], b: &[u8]| self.aside.offer(!stderr, a, b);
        self.timed(self.inner.read_stream_setting_aside(stderr, sink, other))
            .map(drop)
    }

    /// Sends data; returns how many bytes went (at least one).
    pub fn send(&self, data: &[u8]) -> Result<usize> {
        if self.closed() {
            return Err(Error::Proto(amiko_proto::Error::ChannelClosed));
        }
        self.timed(self.inner.write(data))
    }

    /// Sends all of `data`.
    pub fn sendall(&self, data: &[u8]) -> Result<()> {
        self.timed(self.inner.write_all_data(data))
    }

    /// Sends EOF (Paramiko's `shutdown_write`).
    pub fn shutdown_write(&self) -> Result<()> {
        block_on(self.inner.eof())
    }

    /// Waits for the command to end and returns its exit status (-1 as u32::MAX semantics: Paramiko gives -1 when
    /// there is none; here `None` becomes -1).
    pub fn recv_exit_status(&self) -> Result<i32> {
        let (status, _) = block_on(self.inner.wait_exit())?;
        Ok(status.map_or(-1, |s| s as i32))
    }

    /// Closes the channel.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    /// Sends a window-change request.
    pub fn resize_pty(&self, width: u32, height: u32) -> Result<()> {
        self.inner.window_change(width, height)
    }
}

/// The command's stdin, as returned by `exec_command`.
pub struct ChannelStdin(pub(crate) Channel);
/// The command's stdout: Read and BufRead.
pub struct ChannelStdout(pub(crate) io::BufReader<Reader>);
/// The command's stderr: Read and BufRead.
pub struct ChannelStderr(pub(crate) io::BufReader<Reader>);

/// Reads one stream of a channel.
pub struct Reader {
    ch: Channel,
    stderr: bool,
}

impl Reader {
    pub(crate) fn new(ch: Channel, stderr: bool) -> Self {
        Reader { ch, stderr }
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.ch.read_some(self.stderr, buf).map_err(Into::into)
    }
}

impl ChannelStdin {
    /// The channel.
    pub fn channel(&self) -> &Channel {
        &self.0
    }

    /// Sends EOF to the command.
    pub fn close(&mut self) -> Result<()> {
        self.0.shutdown_write()
    }
}

impl Write for ChannelStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf).map_err(Into::into)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

macro_rules! reader_methods {
    ($t:ty) => {
        impl $t {
            /// The channel.
            pub fn channel(&self) -> &Channel {
                &self.0.get_ref().ch
            }

            /// All remaining lines, each with its newline, as Paramiko's `readlines`.
            pub fn readlines(&mut self) -> io::Result<Vec<String>> {
                let mut lines = Vec::new();
                loop {
                    let mut l = String::new();
                    if self.0.read_line(&mut l)? == 0 {
                        return Ok(lines);
                    }
                    lines.push(l);
                }
            }
        }

        /// `read_to_end` and `read_to_string` read the stream whole as Paramiko's `read()` does, but set the
        /// other stream's output aside meanwhile (unless something reads it), so they cannot stall when the
        /// command writes much to both; plain `read` calls leave the other stream in the channel.
        impl Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }

            fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
                let start = buf.len();
                // What the BufReader holds came first.
                buf.extend_from_slice(self.0.buffer());
                self.0.consume(self.0.buffer().len());
                let r = self.0.get_ref();
                r.ch.read_whole(r.stderr, buf)?;
                Ok(buf.len() - start)
            }

            fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
                let mut bytes = Vec::new();
                self.read_to_end(&mut bytes)?;
                let s = String::from_utf8(bytes)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"))?;
                buf.push_str(&s);
                Ok(s.len())
            }
        }

        impl BufRead for $t {
            fn fill_buf(&mut self) -> io::Result<&[u8]> {
                self.0.fill_buf()
            }
            fn consume(&mut self, n: usize) {
                self.0.consume(n)
            }
        }
    };
}
reader_methods!(ChannelStdout);
reader_methods!(ChannelStderr);
