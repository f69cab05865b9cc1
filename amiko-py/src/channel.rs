//! A session channel for the Python `Channel` and the file objects of `exec_command`.

use std::sync::Arc;

use amiko::PtyRequest;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{to_py, wait};

/// The most one `recv` call asks for: a caller's `recv(1 << 40)` must not allocate that much.
const MAX_RECV: usize = 4 << 20;

/// A channel. Methods that wait release the GIL; `timeout` is in seconds (None: wait forever).
#[pyclass(frozen, module = "amiko._native")]
pub struct Channel {
    inner: Arc<amiko::Channel>,
    /// Output taken while `read_all` read the other stream to its end, read before what the channel still holds,
    /// and each stream's readers at work.
    aside: amiko::SetAside,
}

impl Channel {
    pub(crate) fn new(ch: amiko::Channel) -> Self {
        Channel {
            inner: Arc::new(ch),
            aside: Default::default(),
        }
    }

    pub(crate) fn shared(&self) -> Arc<amiko::Channel> {
        self.inner.clone()
    }

    fn check_open(&self) -> PyResult<()> {
        if self.inner.is_closed() {
            return Err(to_py(amiko::Error::Proto(amiko::proto::Error::ChannelClosed)));
        }
        Ok(())
    }
}

#[pymethods]
impl Channel {
    /// The local channel number.
    fn get_id(&self) -> u32 {
        self.inner.id()
    }

    /// Whether the channel is closed (by either side).
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether the server sent EOF (or closed).
    fn eof_received(&self) -> bool {
        self.inner.is_eof()
    }

    /// Runs a command.
    #[pyo3(signature = (command, timeout=None))]
    fn exec_command(&self, py: Python<'_>, command: String, timeout: Option<f64>) -> PyResult<()> {
        self.check_open()?;
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.exec(&command).await })
    }

    /// Starts the user's shell.
    #[pyo3(signature = (timeout=None))]
    fn invoke_shell(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        self.check_open()?;
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.shell().await })
    }

    /// Asks the server to forward the ssh-agent at `socket` to this session; its agent channels are piped there.
    /// Returns whether the server agreed.
    #[pyo3(signature = (socket, timeout=None))]
    fn request_agent_forwarding(
        &self,
        py: Python<'_>,
        socket: std::path::PathBuf,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        self.check_open()?;
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.request_agent_forwarding(&socket).await })
    }

    /// Starts a subsystem ("sftp", ...).
    #[pyo3(signature = (name, timeout=None))]
    fn invoke_subsystem(&self, py: Python<'_>, name: String, timeout: Option<f64>) -> PyResult<()> {
        self.check_open()?;
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.subsystem(&name).await })
    }

    /// Asks for a pseudo-terminal.
    #[pyo3(signature = (term, width, height, width_pixels=0, height_pixels=0, timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn get_pty(
        &self,
        py: Python<'_>,
        term: String,
        width: u32,
        height: u32,
        width_pixels: u32,
        height_pixels: u32,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        self.check_open()?;
        let ch = self.inner.clone();
        let pty = PtyRequest {
            term,
            cols: width,
            rows: height,
            width_px: width_pixels,
            height_px: height_pixels,
            ..Default::default()
        };
        wait(py, timeout, async move { ch.request_pty(pty).await })
    }

    /// Sends a window change.
    fn resize_pty(&self, width: u32, height: u32) -> PyResult<()> {
        self.check_open()?;
        self.inner.window_change(width, height).map_err(to_py)
    }

    /// Sets an environment variable for the command; returns whether the server accepted it.
    #[pyo3(signature = (name, value, timeout=None))]
    fn set_environment_variable(
        &self,
        py: Python<'_>,
        name: String,
        value: String,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        self.check_open()?;
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.env(&name, &value).await })
    }

    /// Sends a signal ("TERM", "INT", ...).
    fn send_signal(&self, name: &str) -> PyResult<()> {
        self.inner.signal(name).map_err(to_py)
    }

    /// Bytes of stdout (or stderr) buffered now.
    fn ready(&self, stderr: bool) -> usize {
        // Not under the aside lock: read_all takes that lock while it holds the connection's (never the reverse).
        let aside = self.aside.buffered(stderr);
        aside + self.inner.readable(stderr)
    }

    /// The exit status if it has arrived.
    fn exit_status(&self) -> Option<u32> {
        self.inner.exit_status()
    }

    /// Receives up to `n` bytes of stdout (or stderr); empty at EOF.
    #[pyo3(signature = (n, stderr=false, timeout=None))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        stderr: bool,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let _reading = self.aside.reading(stderr);
        let aside = self
            .aside
            .take(stderr, n, |b| (!b.is_empty()).then(|| PyBytes::new(py, b)));
        if let Some(b) = aside {
            return Ok(b);
        }
        let mut buf = vec![0u8; n.min(MAX_RECV)];
        let ch = self.inner.clone();
        let (buf, got) = wait(py, timeout, async move {
            let got = if stderr {
                ch.read_stderr(&mut buf).await?
            } else {
                ch.read(&mut buf).await?
            };
            Ok((buf, got))
        })?;
        Ok(PyBytes::new(py, &buf[..got]))
    }

    /// Reads stdout (or stderr) to its end. The other stream's output is set aside meanwhile (for its own reads
    /// later), so a command writing much to both cannot stall on a full window as it would under Paramiko.
    #[pyo3(signature = (stderr=false, timeout=None))]
    fn read_all<'py>(&self, py: Python<'py>, stderr: bool, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let _reading = self.aside.reading(stderr);
        let ch = self.inner.clone();
        let out = crate::bigbuf::Output::new(py)?;
        let out = wait(py, timeout, async move {
            let mut out = out;
            // Straight into `aside`, so what is taken stays readable even if this read fails; left in the channel
            // while someone else reads that stream.
            let mut other = |a: &[u8], b: &[u8]| self.aside.offer(!stderr, a, b);
            while !ch
                .read_stream_setting_aside(stderr, |data| out.extend(data), &mut other)
                .await?
            {
                // The output asked for room, which takes the GIL: only now that the connection is not locked.
                if let Err(e) = out.make_room() {
                    return Ok(Err(e));
                }
            }
            Ok(Ok(out))
        })??;
        // What was set aside of this stream comes first; taken only now, so a failed read leaves it in place.
        self.aside.take(stderr, usize::MAX, |prefix| out.into_bytes(py, prefix))
    }

    /// Sends what the window allows now (at least one byte); returns how many bytes went.
    #[pyo3(signature = (data, timeout=None))]
    fn send(&self, py: Python<'_>, data: Vec<u8>, timeout: Option<f64>) -> PyResult<usize> {
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.write(&data).await })
    }

    /// Sends all of `data`.
    #[pyo3(signature = (data, timeout=None))]
    fn sendall(&self, py: Python<'_>, data: Vec<u8>, timeout: Option<f64>) -> PyResult<()> {
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.write_all_data(&data).await })
    }

    /// Sends EOF.
    fn shutdown_write(&self, py: Python<'_>) -> PyResult<()> {
        let ch = self.inner.clone();
        wait(py, None, async move { ch.eof().await })
    }

    /// Waits for the channel to close; returns (exit status, exit signal).
    #[pyo3(signature = (timeout=None))]
    fn wait_exit(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<(Option<u32>, Option<String>)> {
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.wait_exit().await })
    }

    /// Waits until the exit status arrives or the channel closes (what Paramiko's `recv_exit_status` waits for).
    #[pyo3(signature = (timeout=None))]
    fn wait_exit_status(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<u32>> {
        let ch = self.inner.clone();
        wait(py, timeout, async move { ch.wait_exit_status().await })
    }

    /// Closes the channel.
    fn close(&self) -> PyResult<()> {
        if self.inner.is_closed() {
            return Ok(());
        }
        self.inner.close().map_err(to_py)
    }
}
