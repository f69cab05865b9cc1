//! Paramiko's SFTPClient and SFTPFile over the async SFTP client.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use amiko_proto::sftp::{open_flags, Attrs};

use super::block_on;
use crate::error::{Error, Result};
use crate::sftp::{Sftp, TransferOptions};

/// SFTP with Paramiko's method names; relative paths are taken from the current directory set by `chdir`.
pub struct SFTPClient {
    sftp: Sftp,
    cwd: Option<String>,
}

impl SFTPClient {
    /// Wraps an async SFTP session (no current directory set).
    pub fn new(sftp: Sftp) -> Self {
        SFTPClient { sftp, cwd: None }
    }

    /// The async client underneath.
    pub fn inner(&self) -> &Sftp {
        &self.sftp
    }

    fn path(&self, p: &str) -> String {
        match (&self.cwd, p.starts_with('/')) {
            (Some(cwd), false) => format!("{}/{p}", cwd.trim_end_matches('/')),
            _ => p.to_string(),
        }
    }

    /// Downloads `remotepath` to `localpath`; `callback(done, total)` reports progress.
    pub fn get(
        &self,
        remotepath: &str,
        localpath: impl AsRef<Path>,
        callback: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    ) -> Result<u64> {
        let opts = TransferOptions {
            progress: callback,
            ..Default::default()
        };
        block_on(self.sftp.get(&self.path(remotepath), localpath.as_ref(), &opts))
    }

    /// Uploads `localpath` to `remotepath` (atomically: a temporary name, then a rename).
    pub fn put(
        &self,
        localpath: impl AsRef<Path>,
        remotepath: &str,
        callback: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    ) -> Result<Attrs> {
        let opts = TransferOptions {
            progress: callback,
            ..Default::default()
        };
        let remote = self.path(remotepath);
        block_on(self.sftp.put(localpath.as_ref(), &remote, &opts))?;
        self.stat(&remote)
    }

    /// Names in a directory.
    pub fn listdir(&self, path: &str) -> Result<Vec<String>> {
        block_on(self.sftp.listdir(&self.path(path)))
    }

    /// Names with attributes.
    pub fn listdir_attr(&self, path: &str) -> Result<Vec<(String, Attrs)>> {
        block_on(self.sftp.listdir_attr(&self.path(path)))
    }

    /// stat.
    pub fn stat(&self, path: &str) -> Result<Attrs> {
        block_on(self.sftp.stat(&self.path(path)))
    }

    /// lstat.
    pub fn lstat(&self, path: &str) -> Result<Attrs> {
        block_on(self.sftp.lstat(&self.path(path)))
    }

    /// chmod.
    pub fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        block_on(self.sftp.setstat(
            &self.path(path),
            Attrs {
                permissions: Some(mode),
                ..Default::default()
            },
        ))
    }

    /// chown.
    pub fn chown(&self, path: &str, uid: u32, gid: u32) -> Result<()> {
        block_on(self.sftp.setstat(
            &self.path(path),
            Attrs {
                uid_gid: Some((uid, gid)),
                ..Default::default()
            },
        ))
    }

    /// utime: (atime, mtime) in seconds.
    pub fn utime(&self, path: &str, times: (u32, u32)) -> Result<()> {
        block_on(self.sftp.setstat(
            &self.path(path),
            Attrs {
                atime_mtime: Some(times),
                ..Default::default()
            },
        ))
    }

    /// truncate.
    pub fn truncate(&self, path: &str, size: u64) -> Result<()> {
        block_on(self.sftp.setstat(
            &self.path(path),
            Attrs {
                size: Some(size),
                ..Default::default()
            },
        ))
    }

    /// mkdir (mode 0o777 minus the server's umask, as Paramiko's default 511).
    pub fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        block_on(self.sftp.mkdir(&self.path(path), mode))
    }

    /// rmdir.
    pub fn rmdir(&self, path: &str) -> Result<()> {
        block_on(self.sftp.rmdir(&self.path(path)))
    }

    /// remove (Paramiko's `unlink` too).
    pub fn remove(&self, path: &str) -> Result<()> {
        block_on(self.sftp.remove(&self.path(path)))
    }

    /// rename.
    pub fn rename(&self, old: &str, new: &str) -> Result<()> {
        block_on(self.sftp.rename(&self.path(old), &self.path(new)))
    }

    /// posix_rename (replaces the target).
    pub fn posix_rename(&self, old: &str, new: &str) -> Result<()> {
        block_on(self.sftp.posix_rename(&self.path(old), &self.path(new)))
    }

    /// symlink(source, dest): `dest` becomes a link to `source`.
    pub fn symlink(&self, source: &str, dest: &str) -> Result<()> {
        block_on(self.sftp.symlink(source, &self.path(dest)))
    }

    /// readlink.
    pub fn readlink(&self, path: &str) -> Result<String> {
        block_on(self.sftp.readlink(&self.path(path)))
    }

    /// normalize: the absolute path.
    pub fn normalize(&self, path: &str) -> Result<String> {
        block_on(self.sftp.realpath(&self.path(path)))
    }

    /// chdir: later relative paths start here (None: back to the server's default).
    pub fn chdir(&mut self, path: Option<&str>) -> Result<()> {
        self.cwd = match path {
            None => None,
            Some(p) => {
                let full = block_on(self.sftp.realpath(&self.path(p)))?;
                if !block_on(self.sftp.stat(&full))?.is_dir() {
                    return Err(Error::Config(format!("{full} is not a directory")));
                }
                Some(full)
            }
        };
        Ok(())
    }

    /// getcwd: the directory set by `chdir`, if any.
    pub fn getcwd(&self) -> Option<String> {
        self.cwd.clone()
    }

    /// Opens a remote file: mode "r", "w", "a", "r+", "w+", "a+", "x" (Python's modes; "b" is ignored).
    pub fn open(&self, path: &str, mode: &str) -> Result<SFTPFile> {
        let m = mode.replace('b', "");
        let flags = match m.as_str() {
            "r" => open_flags::READ,
            "r+" => open_flags::READ | open_flags::WRITE,
            "w" => open_flags::WRITE | open_flags::CREAT | open_flags::TRUNC,
            "w+" => open_flags::READ | open_flags::WRITE | open_flags::CREAT | open_flags::TRUNC,
            "a" => open_flags::WRITE | open_flags::CREAT | open_flags::APPEND,
            "a+" => open_flags::READ | open_flags::WRITE | open_flags::CREAT | open_flags::APPEND,
            "x" => open_flags::WRITE | open_flags::CREAT | open_flags::EXCL,
            _ => return Err(Error::Config(format!("invalid mode {mode:?}"))),
        };
        let path = self.path(path);
        let handle = block_on(self.sftp.open(&path, flags, Attrs::default()))?;
        let pos = if flags & open_flags::APPEND != 0 {
            block_on(self.sftp.fstat(&handle))?.size.unwrap_or(0)
        } else {
            0
        };
        Ok(SFTPFile {
            sftp: self.sftp.clone(),
            handle: Arc::new(handle),
            pos,
            rbuf: Vec::new(),
            rpos: 0,
            ahead: VecDeque::new(),
            next_read: 0,
            wbuf: Vec::new(),
            wstart: 0,
            eof: false,
            closed: false,
        })
    }
}

/// A remote file: Read (with read-ahead), Write (write-behind), Seek, BufRead (lines), like Paramiko's SFTPFile.
pub struct SFTPFile {
    sftp: Sftp,
    handle: Arc<Vec<u8>>,
    pos: u64,
    rbuf: Vec<u8>,
    rpos: usize,
    /// READs sent ahead of the position, in offset order, and where the next one goes.
    ahead: VecDeque<(u64, ReadReply)>,
    next_read: u64,
    wbuf: Vec<u8>,
    wstart: u64,
    eof: bool,
    closed: bool,
}

/// Read-ahead: this many requests of the server's read size are kept in flight while a file is read in order.
const READ_AHEAD: usize = 16;

/// The data of a READ sent ahead.
type ReadReply = Pin<Box<dyn Future<Output = Result<Vec<u8>>> + Send>>;
/// Write-behind: writes are gathered up to this much, then sent as parallel requests.
const WRITE_BEHIND: usize = 4 << 20;

impl SFTPFile {
    fn flush_writes(&mut self) -> Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let (sftp, handle) = (self.sftp.clone(), self.handle.clone());
        let data = std::mem::take(&mut self.wbuf);
        let start = self.wstart;
        let chunk = sftp.limits().1 as usize;
        block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for (i, c) in data.chunks(chunk).enumerate() {
                let (s, h, c) = (sftp.clone(), handle.clone(), c.to_vec());
                let off = start + (i * chunk) as u64;
                set.spawn(async move { s.write(&h, off, &c).await });
            }
            while let Some(r) = set.join_next().await {
                r.map_err(|e| Error::Channel(e.to_string()))??;
            }
            Ok(())
        })
    }

    /// Loads the next piece at the position into `rbuf`: the oldest READ in flight, which is topped up again so
    /// that the server always has the next ones to answer (no round trip lost between pieces).
    fn fill(&mut self) -> Result<()> {
        let chunk = self.sftp.limits().0 as u64;
        if self.ahead.front().is_none_or(|(off, _)| *off != self.pos) {
            // Nothing sent for here (the first read, or after a seek, a write or a short piece).
            self.ahead.clear();
            self.next_read = self.pos;
        }
        self.send_ahead(chunk)?;
        let Some((off, reply)) = self.ahead.pop_front() else {
            return Ok(());
        };
        let data = block_on(reply)?;
        self.eof = data.is_empty();
        if (data.len() as u64) < chunk {
            // The end of the file, or a server that gave less: what was sent after it does not follow on.
            self.ahead.clear();
            self.next_read = off + data.len() as u64;
        }
        self.rbuf = data;
        self.rpos = 0;
        if !self.eof {
            self.send_ahead(chunk)?;
        }
        Ok(())
    }

    /// Sends READs of `chunk` bytes from `next_read` on until [`READ_AHEAD`] are in flight.
    fn send_ahead(&mut self, chunk: u64) -> Result<()> {
        let need = READ_AHEAD - self.ahead.len();
        if need == 0 {
            return Ok(());
        }
        let (sftp, handle, from) = (self.sftp.clone(), self.handle.clone(), self.next_read);
        let sent = block_on(async move {
            let mut sent = Vec::with_capacity(need);
            for i in 0..need as u64 {
                let off = from + i * chunk;
                let reply: ReadReply = Box::pin(sftp.send_read(&handle, off, chunk as u32).await?);
                sent.push((off, reply));
            }
            Ok::<_, Error>(sent)
        })?;
        self.next_read = from + need as u64 * chunk;
        self.ahead.extend(sent);
        Ok(())
    }

    /// Current position.
    pub fn tell(&self) -> u64 {
        self.pos
    }

    /// Paramiko's `prefetch`: here reads always read ahead; kept for compatibility.
    pub fn prefetch(&mut self) {}

    /// stat of the open file.
    pub fn stat(&mut self) -> Result<Attrs> {
        self.flush_writes()?;
        block_on(self.sftp.fstat(&self.handle))
    }

    /// Flushes and closes.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.flush_writes()?;
        block_on(self.sftp.close(&self.handle))
    }
}

impl Drop for SFTPFile {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Read for SFTPFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for SFTPFile {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.flush_writes()?;
        if self.rpos >= self.rbuf.len() && !self.eof {
            self.fill()?;
        }
        Ok(&self.rbuf[self.rpos..])
    }

    fn consume(&mut self, n: usize) {
        self.rpos += n;
        self.pos += n as u64;
    }
}

impl Write for SFTPFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.wbuf.is_empty() {
            self.wstart = self.pos;
        }
        // Reading after writing must not see stale read-ahead.
        self.rbuf.clear();
        self.rpos = 0;
        self.ahead.clear();
        self.eof = false;
        self.wbuf.extend_from_slice(data);
        self.pos += data.len() as u64;
        if self.wbuf.len() >= WRITE_BEHIND {
            self.flush_writes()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_writes().map_err(Into::into)
    }
}

impl Seek for SFTPFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.flush_writes()?;
        let new = match to {
            SeekFrom::Start(p) => p as i64,
            SeekFrom::Current(d) => self.pos as i64 + d,
            SeekFrom::End(d) => block_on(self.sftp.fstat(&self.handle))?.size.unwrap_or(0) as i64 + d,
        };
        if new < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"));
        }
        self.pos = new as u64;
        self.rbuf.clear();
        self.rpos = 0;
        self.eof = false;
        Ok(self.pos)
    }
}
