//! SFTP for the Python `SFTPClient` and `SFTPFile`. Paths arrive already joined with the Python side's current
//! directory.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use amiko::blocking::{SFTPClient, SFTPFile};
use amiko::proto::sftp::Attrs;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;

/// (size, uid, gid, mode, atime, mtime), each None when the server did not say.
type PyAttrs = (
    Option<u64>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
);

fn to_tuple(a: &Attrs) -> PyAttrs {
    (
        a.size,
        a.uid_gid.map(|p| p.0),
        a.uid_gid.map(|p| p.1),
        a.permissions,
        a.atime_mtime.map(|p| p.0),
        a.atime_mtime.map(|p| p.1),
    )
}

/// Runs blocking SFTP work with the GIL released.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> amiko::Result<T> + Send) -> PyResult<T> {
    py.detach(f).map_err(to_py)
}

fn io_to_py(e: std::io::Error) -> PyErr {
    match e.into_inner() {
        Some(inner) => match inner.downcast::<amiko::Error>() {
            Ok(ae) => to_py(*ae),
            Err(other) => pyo3::exceptions::PyOSError::new_err(other.to_string()),
        },
        None => pyo3::exceptions::PyOSError::new_err("I/O error"),
    }
}

/// A progress callback from Python, called as `callback(done, total)` on the thread driving amiko's runtime (the
/// calling thread during the transfer).
fn progress(callback: Option<Py<PyAny>>) -> Option<Arc<dyn Fn(u64, u64) + Send + Sync>> {
    callback.map(|cb| {
        Arc::new(move |done: u64, total: u64| {
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (done, total)) {
                    e.print(py);
                }
            })
        }) as Arc<dyn Fn(u64, u64) + Send + Sync>
    })
}

/// An SFTP session.
#[pyclass(frozen, module = "amiko._native")]
pub struct Sftp {
    inner: SFTPClient,
}

impl Sftp {
    pub(crate) fn new(s: amiko::sftp::Sftp) -> Self {
        Sftp {
            inner: SFTPClient::new(s),
        }
    }
}

#[pymethods]
impl Sftp {
    /// stat (following links).
    fn stat(&self, py: Python<'_>, path: String) -> PyResult<PyAttrs> {
        detached(py, || self.inner.stat(&path)).map(|a| to_tuple(&a))
    }

    /// lstat.
    fn lstat(&self, py: Python<'_>, path: String) -> PyResult<PyAttrs> {
        detached(py, || self.inner.lstat(&path)).map(|a| to_tuple(&a))
    }

    /// setstat with the given fields.
    #[pyo3(signature = (path, size=None, uid=None, gid=None, mode=None, atime=None, mtime=None))]
    #[allow(clippy::too_many_arguments)]
    fn setstat(
        &self,
        py: Python<'_>,
        path: String,
        size: Option<u64>,
        uid: Option<u32>,
        gid: Option<u32>,
        mode: Option<u32>,
        atime: Option<u32>,
        mtime: Option<u32>,
    ) -> PyResult<()> {
        let attrs = Attrs {
            size,
            uid_gid: uid.zip(gid),
            permissions: mode,
            atime_mtime: atime.zip(mtime),
        };
        let s = self.inner.inner().clone();
        detached(py, || amiko::blocking::block_on(s.setstat(&path, attrs)))
    }

    /// Directory entries with attributes: [(name, attrs)], without "." and "..".
    fn listdir_attr(&self, py: Python<'_>, path: String) -> PyResult<Vec<(String, PyAttrs)>> {
        let list = detached(py, || self.inner.listdir_attr(&path))?;
        Ok(list
            .iter()
            .filter(|(n, _)| n != "." && n != "..")
            .map(|(n, a)| (n.clone(), to_tuple(a)))
            .collect())
    }

    /// mkdir.
    fn mkdir(&self, py: Python<'_>, path: String, mode: u32) -> PyResult<()> {
        detached(py, || self.inner.mkdir(&path, mode))
    }

    /// rmdir.
    fn rmdir(&self, py: Python<'_>, path: String) -> PyResult<()> {
        detached(py, || self.inner.rmdir(&path))
    }

    /// remove a file.
    fn remove(&self, py: Python<'_>, path: String) -> PyResult<()> {
        detached(py, || self.inner.remove(&path))
    }

    /// rename (fails if the target exists, as SFTP v3 says).
    fn rename(&self, py: Python<'_>, old: String, new: String) -> PyResult<()> {
        detached(py, || self.inner.rename(&old, &new))
    }

    /// posix-rename@openssh.com (replaces the target).
    fn posix_rename(&self, py: Python<'_>, old: String, new: String) -> PyResult<()> {
        detached(py, || self.inner.posix_rename(&old, &new))
    }

    /// A symbolic link at `dest` pointing to `source`.
    fn symlink(&self, py: Python<'_>, source: String, dest: String) -> PyResult<()> {
        detached(py, || self.inner.symlink(&source, &dest))
    }

    /// The target of a symbolic link.
    fn readlink(&self, py: Python<'_>, path: String) -> PyResult<String> {
        detached(py, || self.inner.readlink(&path))
    }

    /// The server's canonical absolute path.
    fn normalize(&self, py: Python<'_>, path: String) -> PyResult<String> {
        detached(py, || self.inner.normalize(&path))
    }

    /// statvfs@openssh.com: the 11 numbers of statvfs(3).
    fn statvfs(&self, py: Python<'_>, path: String) -> PyResult<Vec<u64>> {
        let s = self.inner.inner().clone();
        detached(py, || amiko::blocking::block_on(s.statvfs(&path)))
    }

    /// Downloads a file (pipelined); returns the bytes copied.
    #[pyo3(signature = (remote, local, callback=None))]
    fn get(&self, py: Python<'_>, remote: String, local: String, callback: Option<Py<PyAny>>) -> PyResult<u64> {
        let cb = progress(callback);
        detached(py, || self.inner.get(&remote, &local, cb))
    }

    /// Uploads a file (pipelined, atomically renamed into place); returns the new file's attributes.
    #[pyo3(signature = (local, remote, callback=None))]
    fn put(&self, py: Python<'_>, local: String, remote: String, callback: Option<Py<PyAny>>) -> PyResult<PyAttrs> {
        let cb = progress(callback);
        detached(py, || self.inner.put(&local, &remote, cb)).map(|a| to_tuple(&a))
    }

    /// Opens a remote file with a Python mode ("r", "w", "a", "r+", "w+", "a+", "x"; "b" ignored).
    fn open(&self, py: Python<'_>, path: String, mode: String) -> PyResult<File> {
        let f = detached(py, || self.inner.open(&path, &mode))?;
        Ok(File { inner: Mutex::new(f) })
    }
}

/// An open remote file with read-ahead and write-behind.
#[pyclass(frozen, module = "amiko._native")]
pub struct File {
    inner: Mutex<SFTPFile>,
}

impl File {
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut SFTPFile) -> std::io::Result<T> + Send) -> PyResult<T> {
        py.detach(|| f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner())))
            .map_err(io_to_py)
    }
}

/// Reads up to this size gather in a plain buffer; larger ones grow a `bytes` object in place.
const SMALL_READ: u64 = 1 << 20;

#[pymethods]
impl File {
    /// Reads up to `n` bytes (None or negative: to the end). Large reads go straight into the `bytes` object
    /// returned, which grows as it fills (see bigbuf), while READs stay in flight ahead of them.
    #[pyo3(signature = (n=None))]
    fn read<'py>(&self, py: Python<'py>, n: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let limit = n.and_then(|n| u64::try_from(n).ok()).unwrap_or(u64::MAX);
        if limit <= SMALL_READ {
            let data = self.with(py, |f| {
                let mut out = Vec::new();
                f.take(limit).read_to_end(&mut out)?;
                Ok(out)
            })?;
            return Ok(PyBytes::new(py, &data));
        }
        let out = crate::bigbuf::Output::new(py)?;
        let (out, failed) = self.with(py, move |f| {
            let mut out = out;
            let mut left = limit;
            while left > 0 {
                let piece = f.fill_buf()?;
                if piece.is_empty() {
                    break;
                }
                let k = piece.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let pause = out.extend(&piece[..k]).is_break();
                f.consume(k);
                left -= k as u64;
                if pause {
                    if let Err(e) = out.make_room() {
                        return Ok((out, Some(e)));
                    }
                }
            }
            Ok((out, None))
        })?;
        match failed {
            Some(e) => Err(e),
            None => out.into_bytes(py, &[]),
        }
    }

    /// Reads one line with its newline (at most `limit` bytes if given); empty at the end.
    #[pyo3(signature = (limit=None))]
    fn readline<'py>(&self, py: Python<'py>, limit: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.with(py, |f| {
            let mut out = Vec::new();
            match limit {
                Some(l) if l >= 0 => {
                    f.take(l as u64).read_until(b'\n', &mut out)?;
                }
                _ => {
                    f.read_until(b'\n', &mut out)?;
                }
            }
            Ok(out)
        })?;
        Ok(PyBytes::new(py, &data))
    }

    /// Writes all of `data` (buffered; sent in parallel requests).
    fn write(&self, py: Python<'_>, data: Vec<u8>) -> PyResult<usize> {
        self.with(py, |f| f.write_all(&data).map(|_| data.len()))
    }

    /// Sends buffered writes.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |f| f.flush())
    }

    /// Moves the position (whence 0: from the start, 1: from here, 2: from the end).
    #[pyo3(signature = (offset, whence=0))]
    fn seek(&self, py: Python<'_>, offset: i64, whence: i32) -> PyResult<u64> {
        let to = match whence {
            0 if offset >= 0 => SeekFrom::Start(offset as u64),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(PyValueError::new_err("invalid whence or negative offset")),
        };
        self.with(py, |f| f.seek(to))
    }

    /// The position.
    fn tell(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).tell()
    }

    /// fstat.
    fn stat(&self, py: Python<'_>) -> PyResult<PyAttrs> {
        self.with(py, |f| f.stat().map_err(Into::into)).map(|a| to_tuple(&a))
    }

    /// Flushes and closes.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |f| f.close().map_err(Into::into))
    }
}
