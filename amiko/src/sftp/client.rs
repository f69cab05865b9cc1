//! The SFTP client: requests go out tagged with ids, a reader task hands each reply to its waiter, so any number
//! of requests can be in flight at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use amiko_proto::sftp::{open_flags, status, Attrs, FrameReader, Request, Response};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::{Channel, Client};

/// An SFTP status other than OK, with the server's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (SFTP status {code}{})", path.as_ref().map(|p| format!(", {p}")).unwrap_or_default())]
pub struct SftpError {
    /// Status code (2 = no such file, 3 = permission denied, 4 = failure, 8 = unsupported, ...).
    pub code: u32,
    /// The server's message.
    pub message: String,
    /// The path concerned, when known.
    pub path: Option<String>,
}

/// A reply, owned.
#[derive(Debug)]
pub(crate) enum Reply {
    Status(u32, String),
    Handle(Vec<u8>),
    Data(Vec<u8>),
    Name(Vec<(String, String, Attrs)>),
    Attrs(Attrs),
    Extended(Vec<u8>),
}

type Waiters = Arc<Mutex<HashMap<u32, oneshot::Sender<Reply>>>>;

struct Inner {
    ch: Arc<Channel>,
    out: tokio::sync::Mutex<Vec<u8>>,
    waiters: Waiters,
    next_id: AtomicU32,
    extensions: Vec<(String, String)>,
    max_read: u32,
    max_write: u32,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// An SFTP session. Cheap to clone; clones share the session and may issue requests concurrently.
#[derive(Clone)]
pub struct Sftp {
    inner: Arc<Inner>,
}

fn sftp_err(code: u32, message: String, path: Option<&str>) -> Error {
    Error::Sftp(SftpError {
        code,
        message,
        path: path.map(str::to_string),
    })
}

async fn read_frame(ch: &Channel, fr: &mut FrameReader, buf: &mut [u8]) -> Result<Option<Vec<u8>>> {
    loop {
        if let Some(f) = fr.next_frame().map_err(Error::Proto)? {
            return Ok(Some(f.to_vec()));
        }
        let n = ch.read(buf).await?;
        if n == 0 {
            return Ok(None);
        }
        fr.push(&buf[..n]);
    }
}

async fn reader_loop(ch: Arc<Channel>, mut fr: FrameReader, waiters: Waiters) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        // Frames are decoded straight from the reader's buffer; only the reply's payload is copied out.
        let frame = 'frame: loop {
            // A DATA reply (a download's bytes) goes from the channel straight into the Vec its waiter gets, rather
            // than through `buf`, the frame reader and a copy out of it.
            if let Some((id, len)) = fr.next_data_header() {
                let mut data = Vec::with_capacity(len);
                fr.take(&mut data, len);
                while data.len() < len {
                    let want = len - data.len();
                    match ch.read_append(&mut data, want).await {
                        Ok(0) | Err(_) => break 'frame None,
                        Ok(_) => {}
                    }
                }
                break Some(Ok((id, Reply::Data(data))));
            }
            match fr.next_frame() {
                Ok(Some(f)) => break Some(reply_of(f)),
                Ok(None) => {}
                Err(_) => break None,
            }
            match ch.read(&mut buf).await {
                Ok(0) | Err(_) => break None,
                Ok(n) => fr.push(&buf[..n]),
            }
        };
        match frame {
            Some(Ok((id, reply))) => {
                let w = waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                if let Some(w) = w {
                    let _ = w.send(reply);
                }
            }
            _ => {
                // The session ended or sent garbage: every waiter learns it (their senders are dropped).
                waiters.lock().unwrap_or_else(|p| p.into_inner()).clear();
                return;
            }
        }
    }
}

fn reply_of(frame: &[u8]) -> Result<(u32, Reply)> {
    let r = Response::decode(frame).map_err(Error::Proto)?;
    let id = r.id();
    Ok((
        id,
        match r {
            Response::Status { code, message, .. } => Reply::Status(code, message),
            Response::Handle { handle, .. } => Reply::Handle(handle.to_vec()),
            Response::Data { data, .. } => Reply::Data(data.to_vec()),
            Response::Name { entries, .. } => Reply::Name(entries),
            Response::Attrs { attrs, .. } => Reply::Attrs(attrs),
            Response::ExtendedReply { data, .. } => Reply::Extended(data.to_vec()),
            Response::Version { .. } => return Err(Error::Channel("unexpected SFTP VERSION".into())),
        },
    ))
}

/// The outcome of a request answered with a STATUS: OK, or the server's error (about `path`, if given).
fn status_of(reply: Reply, path: Option<&str>) -> Result<()> {
    match reply {
        Reply::Status(status::OK, _) => Ok(()),
        Reply::Status(code, msg) => Err(sftp_err(code, msg, path)),
        other => Err(Error::Channel(format!("unexpected SFTP reply {other:?}"))),
    }
}

/// A request sent and not yet answered.
pub(crate) struct Pending(oneshot::Receiver<Reply>);

impl Pending {
    /// Waits for the reply.
    pub(crate) async fn reply(self) -> Result<Reply> {
        self.0
            .await
            .map_err(|_| Error::Channel("the SFTP session ended (connection lost)".into()))
    }
}

impl Sftp {
    /// Opens the "sftp" subsystem on a new channel and negotiates version 3.
    pub async fn new(client: &Client) -> Result<Sftp> {
        let ch = client.open_session().await?;
        ch.subsystem("sftp").await?;
        let mut out = Vec::new();
        Request::Init { version: 3 }.encode(&mut out);
        ch.write_all_data(&out).await?;
        let mut fr = FrameReader::default();
        let mut buf = vec![0u8; 64 * 1024];
        let frame = read_frame(&ch, &mut fr, &mut buf)
            .await?
            .ok_or_else(|| Error::Channel("the SFTP server closed before VERSION".into()))?;
        let extensions = match Response::decode(&frame).map_err(Error::Proto)? {
            Response::Version {
                version: 3..,
                extensions,
            } => extensions,
            other => return Err(Error::Channel(format!("unexpected SFTP greeting {other:?}"))),
        };
        let ch = Arc::new(ch);
        let waiters: Waiters = Arc::default();
        let reader = tokio::spawn(reader_loop(ch.clone(), fr, waiters.clone()));
        let mut sftp = Sftp {
            inner: Arc::new(Inner {
                ch,
                out: tokio::sync::Mutex::new(Vec::new()),
                waiters,
                next_id: AtomicU32::new(1),
                extensions,
                max_read: 32 * 1024,
                max_write: 32 * 1024,
                reader,
            }),
        };
        if sftp.has_extension("limits@openssh.com") {
            let data = sftp.extended("limits@openssh.com", &[]).await?;
            let mut r = amiko_proto::wire::Reader::new(&data);
            let (_packet, read, write) = (r.u64(), r.u64(), r.u64());
            if let (Ok(read), Ok(write)) = (read, write) {
                let inner = Arc::get_mut(&mut sftp.inner).ok_or_else(|| Error::Channel("sftp shared early".into()))?;
                // Leave room for the DATA/WRITE headers within the server's packet limit.
                inner.max_read = read.clamp(4096, 255 * 1024) as u32;
                inner.max_write = write.clamp(4096, 255 * 1024) as u32;
            }
        }
        Ok(sftp)
    }

    /// Whether the server offers an extension.
    pub fn has_extension(&self, name: &str) -> bool {
        self.inner.extensions.iter().any(|(n, _)| n == name)
    }

    /// Largest read and write the server accepts (from limits@openssh.com, else 32 KiB).
    pub fn limits(&self) -> (u32, u32) {
        (self.inner.max_read, self.inner.max_write)
    }

    pub(crate) async fn call<'a>(&self, make: impl FnOnce(u32) -> Request<'a>) -> Result<Reply> {
        self.send(make).await?.reply().await
    }

    /// Sends a request now; the returned future waits for its reply. Pipelining callers send from one loop, so
    /// their requests go out in the order they were made (an upload's writes by increasing offset).
    pub(crate) async fn send<'a>(&self, make: impl FnOnce(u32) -> Request<'a>) -> Result<Pending> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.inner
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        {
            let mut out = self.inner.out.lock().await;
            out.clear();
            make(id).encode(&mut out);
            if let Err(e) = self.inner.ch.write_all_data(&out).await {
                self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                return Err(e);
            }
        }
        Ok(Pending(rx))
    }

    async fn status<'a>(&self, path: Option<&str>, make: impl FnOnce(u32) -> Request<'a>) -> Result<()> {
        status_of(self.call(make).await?, path)
    }

    async fn attrs<'a>(&self, path: Option<&str>, make: impl FnOnce(u32) -> Request<'a>) -> Result<Attrs> {
        match self.call(make).await? {
            Reply::Attrs(a) => Ok(a),
            Reply::Status(code, msg) => Err(sftp_err(code, msg, path)),
            other => Err(Error::Channel(format!("unexpected SFTP reply {other:?}"))),
        }
    }

    async fn handle<'a>(&self, path: &str, make: impl FnOnce(u32) -> Request<'a>) -> Result<Vec<u8>> {
        match self.call(make).await? {
            Reply::Handle(h) => Ok(h),
            Reply::Status(code, msg) => Err(sftp_err(code, msg, Some(path))),
            other => Err(Error::Channel(format!("unexpected SFTP reply {other:?}"))),
        }
    }

    async fn name<'a>(&self, path: &str, make: impl FnOnce(u32) -> Request<'a>) -> Result<String> {
        match self.call(make).await? {
            Reply::Name(mut e) if !e.is_empty() => Ok(e.swap_remove(0).0),
            Reply::Status(code, msg) => Err(sftp_err(code, msg, Some(path))),
            other => Err(Error::Channel(format!("unexpected SFTP reply {other:?}"))),
        }
    }

    /// stat (follows symlinks).
    pub async fn stat(&self, path: &str) -> Result<Attrs> {
        self.attrs(Some(path), |id| Request::Stat { id, path }).await
    }

    /// lstat (does not follow symlinks).
    pub async fn lstat(&self, path: &str) -> Result<Attrs> {
        self.attrs(Some(path), |id| Request::Lstat { id, path }).await
    }

    /// fstat on an open handle.
    pub async fn fstat(&self, handle: &[u8]) -> Result<Attrs> {
        self.attrs(None, |id| Request::Fstat { id, handle }).await
    }

    /// setstat: only the fields set in `attrs` change.
    pub async fn setstat(&self, path: &str, attrs: Attrs) -> Result<()> {
        self.status(Some(path), |id| Request::Setstat { id, path, attrs }).await
    }

    /// fsetstat on a handle.
    pub async fn fsetstat(&self, handle: &[u8], attrs: Attrs) -> Result<()> {
        self.status(None, |id| Request::Fsetstat { id, handle, attrs }).await
    }

    /// Opens a file (`open_flags`), returning its handle.
    pub async fn open(&self, path: &str, flags: u32, attrs: Attrs) -> Result<Vec<u8>> {
        self.handle(path, |id| Request::Open { id, path, flags, attrs }).await
    }

    /// Closes a handle.
    pub async fn close(&self, handle: &[u8]) -> Result<()> {
        self.status(None, |id| Request::Close { id, handle }).await
    }

    /// Reads up to `len` bytes at `offset`; empty at EOF.
    pub async fn read(&self, handle: &[u8], offset: u64, len: u32) -> Result<Vec<u8>> {
        self.send_read(handle, offset, len).await?.await
    }

    /// Sends one READ now; the returned future waits for its data (empty at the end of the file), so that a reader
    /// can keep several in flight, sent in offset order.
    pub(crate) async fn send_read(
        &self,
        handle: &[u8],
        offset: u64,
        len: u32,
    ) -> Result<impl std::future::Future<Output = Result<Vec<u8>>> + Send + 'static> {
        let len = len.min(self.inner.max_read);
        let reply = self
            .send(|id| Request::Read {
                id,
                handle,
                offset,
                len,
            })
            .await?;
        Ok(async move {
            match reply.reply().await? {
                // More than asked for would land on the next request's bytes (or past the end of a download).
                Reply::Data(d) if d.len() > len as usize => Err(Error::Channel(format!(
                    "the SFTP server sent {} bytes for a read of {len}",
                    d.len()
                ))),
                Reply::Data(d) => Ok(d),
                Reply::Status(status::EOF, _) => Ok(Vec::new()),
                Reply::Status(code, msg) => Err(sftp_err(code, msg, None)),
                other => Err(Error::Channel(format!("unexpected SFTP reply {other:?}"))),
            }
        })
    }

    /// Sends one WRITE of `data` (at most the server's write limit) at `offset` now; the returned future waits for
    /// the server's status.
    pub(crate) async fn send_write(
        &self,
        handle: &[u8],
        offset: u64,
        data: &[u8],
    ) -> Result<impl std::future::Future<Output = Result<()>> + Send + 'static> {
        debug_assert!(data.len() <= self.inner.max_write as usize);
        let reply = self
            .send(|id| Request::Write {
                id,
                handle,
                offset,
                data,
            })
            .await?;
        Ok(async move { status_of(reply.reply().await?, None) })
    }

    /// Writes `data` at `offset` (split to the server's write limit).
    pub async fn write(&self, handle: &[u8], offset: u64, data: &[u8]) -> Result<()> {
        let mut done = 0;
        for chunk in data.chunks(self.inner.max_write as usize) {
            let off = offset + done as u64;
            self.status(None, |id| Request::Write {
                id,
                handle,
                offset: off,
                data: chunk,
            })
            .await?;
            done += chunk.len();
        }
        Ok(())
    }

    /// Lists a directory with attributes (without "." and "..").
    pub async fn listdir_attr(&self, path: &str) -> Result<Vec<(String, Attrs)>> {
        let handle = self.handle(path, |id| Request::Opendir { id, path }).await?;
        let mut out = Vec::new();
        let result = loop {
            match self.call(|id| Request::Readdir { id, handle: &handle }).await {
                Ok(Reply::Name(entries)) => out.extend(
                    entries
                        .into_iter()
                        .filter(|(n, _, _)| n != "." && n != "..")
                        .map(|(n, _, a)| (n, a)),
                ),
                Ok(Reply::Status(status::EOF, _)) => break Ok(()),
                Ok(Reply::Status(code, msg)) => break Err(sftp_err(code, msg, Some(path))),
                Ok(other) => break Err(Error::Channel(format!("unexpected SFTP reply {other:?}"))),
                Err(e) => break Err(e),
            }
        };
        let _ = self.close(&handle).await;
        result.map(|_| out)
    }

    /// Lists a directory's names.
    pub async fn listdir(&self, path: &str) -> Result<Vec<String>> {
        Ok(self.listdir_attr(path).await?.into_iter().map(|(n, _)| n).collect())
    }

    /// Removes a file.
    pub async fn remove(&self, path: &str) -> Result<()> {
        self.status(Some(path), |id| Request::Remove { id, path }).await
    }

    /// Makes a directory with mode bits.
    pub async fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        let attrs = Attrs {
            permissions: Some(mode),
            ..Default::default()
        };
        self.status(Some(path), |id| Request::Mkdir { id, path, attrs }).await
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, path: &str) -> Result<()> {
        self.status(Some(path), |id| Request::Rmdir { id, path }).await
    }

    /// Canonical absolute path (Paramiko's `normalize`).
    pub async fn realpath(&self, path: &str) -> Result<String> {
        self.name(path, |id| Request::Realpath { id, path }).await
    }

    /// Renames (fails if the target exists, per the draft).
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.status(Some(from), |id| Request::Rename { id, from, to }).await
    }

    /// Renames, replacing the target atomically (posix-rename@openssh.com).
    pub async fn posix_rename(&self, from: &str, to: &str) -> Result<()> {
        let mut data = Vec::new();
        amiko_proto::wire::Writer::new(&mut data).string(from).string(to);
        self.extended_status("posix-rename@openssh.com", &data, Some(from))
            .await
    }

    /// Reads a symlink.
    pub async fn readlink(&self, path: &str) -> Result<String> {
        self.name(path, |id| Request::Readlink { id, path }).await
    }

    /// Makes `link` a symlink to `target`.
    pub async fn symlink(&self, target: &str, link: &str) -> Result<()> {
        self.status(Some(link), |id| Request::Symlink { id, target, link })
            .await
    }

    /// Makes a hard link (hardlink@openssh.com).
    pub async fn hardlink(&self, target: &str, link: &str) -> Result<()> {
        let mut data = Vec::new();
        amiko_proto::wire::Writer::new(&mut data).string(target).string(link);
        self.extended_status("hardlink@openssh.com", &data, Some(link)).await
    }

    /// Flushes a file to disk (fsync@openssh.com).
    pub async fn fsync(&self, handle: &[u8]) -> Result<()> {
        let mut data = Vec::new();
        amiko_proto::wire::Writer::new(&mut data).string(handle);
        self.extended_status("fsync@openssh.com", &data, None).await
    }

    /// File-system statistics (statvfs@openssh.com): the raw 11 u64 fields in the extension's order.
    pub async fn statvfs(&self, path: &str) -> Result<Vec<u64>> {
        let mut data = Vec::new();
        amiko_proto::wire::Writer::new(&mut data).string(path);
        let reply = self.extended("statvfs@openssh.com", &data).await?;
        let mut r = amiko_proto::wire::Reader::new(&reply);
        (0..11).map(|_| r.u64().map_err(|e| Error::Proto(e.into()))).collect()
    }

    /// The home directory (home-directory extension, else realpath of ".").
    pub async fn home_directory(&self) -> Result<String> {
        if self.has_extension("home-directory") {
            let mut data = Vec::new();
            amiko_proto::wire::Writer::new(&mut data).string("");
            if let Ok(Reply::Name(mut e)) = self
                .call(|id| Request::Extended {
                    id,
                    name: "home-directory",
                    data: &data,
                })
                .await
            {
                if !e.is_empty() {
                    return Ok(e.swap_remove(0).0);
                }
            }
        }
        self.realpath(".").await
    }

    /// Copies `len` bytes (0: to the end) from one open file to another on the server (copy-data), without the
    /// data crossing the network.
    pub async fn copy_data(&self, from: &[u8], from_offset: u64, len: u64, to: &[u8], to_offset: u64) -> Result<()> {
        let mut data = Vec::new();
        amiko_proto::wire::Writer::new(&mut data)
            .string(from)
            .u64(from_offset)
            .u64(len)
            .string(to)
            .u64(to_offset);
        self.extended_status("copy-data", &data, None).await
    }

    /// User and group names for ids (users-groups-by-id@openssh.com); unknown ids give empty names.
    pub async fn users_groups_by_id(&self, uids: &[u32], gids: &[u32]) -> Result<(Vec<String>, Vec<String>)> {
        let pack = |ids: &[u32]| ids.iter().flat_map(|i| i.to_be_bytes()).collect::<Vec<u8>>();
        let mut data = Vec::new();
        amiko_proto::wire::Writer::new(&mut data)
            .string(pack(uids))
            .string(pack(gids));
        let reply = self.extended("users-groups-by-id@openssh.com", &data).await?;
        let mut r = amiko_proto::wire::Reader::new(&reply);
        let names = |raw: &[u8]| -> Result<Vec<String>> {
            let mut r = amiko_proto::wire::Reader::new(raw);
            let mut v = Vec::new();
            while !r.is_empty() {
                v.push(String::from_utf8_lossy(r.string().map_err(|e| Error::Proto(e.into()))?).into_owned());
            }
            Ok(v)
        };
        let users = names(r.string().map_err(|e| Error::Proto(e.into()))?)?;
        let groups = names(r.string().map_err(|e| Error::Proto(e.into()))?)?;
        Ok((users, groups))
    }

    /// Sends an extension request and returns its EXTENDED_REPLY data.
    pub async fn extended(&self, name: &str, data: &[u8]) -> Result<Vec<u8>> {
        if !self.has_extension(name) {
            return Err(sftp_err(
                status::OP_UNSUPPORTED,
                format!("server does not support {name}"),
                None,
            ));
        }
        match self.call(|id| Request::Extended { id, name, data }).await? {
            Reply::Extended(d) => Ok(d),
            Reply::Status(code, msg) => Err(sftp_err(code, msg, None)),
            other => Err(Error::Channel(format!("unexpected SFTP reply {other:?}"))),
        }
    }

    async fn extended_status(&self, name: &str, data: &[u8], path: Option<&str>) -> Result<()> {
        if !self.has_extension(name) {
            return Err(sftp_err(
                status::OP_UNSUPPORTED,
                format!("server does not support {name}"),
                path,
            ));
        }
        self.status(path, |id| Request::Extended { id, name, data }).await
    }

    /// Opens for reading.
    pub async fn open_read(&self, path: &str) -> Result<Vec<u8>> {
        self.open(path, open_flags::READ, Attrs::default()).await
    }
}
