//! The SFTP subsystem of amiko's server: SFTP v3 plus OpenSSH's extensions, inside a root-directory jail.
//!
//! Paths from the client are resolved under the root: `..` cannot climb above it, absolute paths start at it,
//! and a path whose real location (symlinks followed) leaves it is refused. File I/O runs on tokio's blocking
//! pool, so a slow disk does not stall the connection's other channels.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use amiko_proto::sftp::{open_flags, status, Attrs, FrameReader, Request, Response, EXTENSIONS};
use amiko_proto::wire::{Reader, Writer};

use crate::Channel;

/// Open handles per session (files and directories).
pub const MAX_HANDLES: usize = 256;
/// Largest read served (and advertised by limits@openssh.com).
const MAX_READ: u32 = 255 * 1024;

enum Handle {
    File(File),
    Dir(Vec<(String, Attrs)>),
}

struct State {
    root: PathBuf,
    handles: HashMap<u32, Handle>,
    next_handle: u32,
}

type Status = (u32, String);

fn io_status(e: io::Error) -> Status {
    let code = match e.kind() {
        io::ErrorKind::NotFound => status::NO_SUCH_FILE,
        io::ErrorKind::PermissionDenied => status::PERMISSION_DENIED,
        _ => status::FAILURE,
    };
    (code, e.to_string())
}

fn attrs_of(m: &fs::Metadata) -> Attrs {
    Attrs {
        size: Some(m.len()),
        uid_gid: Some((m.uid(), m.gid())),
        permissions: Some(m.mode()),
        atime_mtime: Some((m.atime() as u32, m.mtime() as u32)),
    }
}

fn longname(name: &str, a: &Attrs) -> String {
    let p = a.permissions.unwrap_or(0);
    let kind = if a.is_dir() {
        'd'
    } else if a.is_symlink() {
        'l'
    } else {
        '-'
    };
    let bits: String = (0..9)
        .rev()
        .map(|i| {
            if p & (1 << i) != 0 {
                b"rwxrwxrwx"[8 - i] as char
            } else {
                '-'
            }
        })
        .collect();
    let (u, g) = a.uid_gid.unwrap_or((0, 0));
    format!(
        "{kind}{bits} 1 {u} {g} {} {} {name}",
        a.size.unwrap_or(0),
        a.atime_mtime.map_or(0, |t| t.1)
    )
}

impl State {
    /// The real path for a client path, inside the jail. `follow_last`: the last component may be a symlink that
    /// is followed (stat, open) rather than acted on (lstat, remove, readlink).
    fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf, Status> {
        let mut parts: Vec<&str> = Vec::new();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(s) => parts.push(s.to_str().unwrap_or("")),
                Component::ParentDir => {
                    parts.pop();
                }
                _ => {}
            }
        }
        let mut full = self.root.clone();
        full.extend(&parts);
        let denied = || {
            (
                status::PERMISSION_DENIED,
                format!("{path}: outside the served directory"),
            )
        };
        // Every existing ancestor, symlinks followed, must stay inside the root.
        let check = |p: &Path| -> Result<(), Status> {
            match fs::canonicalize(p) {
                Ok(real) if real.starts_with(&self.root) => Ok(()),
                Ok(_) => Err(denied()),
                Err(_) => Ok(()), // does not exist (yet): nothing to escape through
            }
        };
        if let Some(parent) = full.parent() {
            if full != self.root {
                check(parent)?;
            }
        }
        if follow_last {
            check(&full)?;
        }
        Ok(full)
    }

    fn virtual_path(&self, real: &Path) -> String {
        let rel = real.strip_prefix(&self.root).unwrap_or(Path::new(""));
        format!("/{}", rel.display())
    }

    fn add(&mut self, h: Handle) -> Result<Vec<u8>, Status> {
        if self.handles.len() >= MAX_HANDLES {
            return Err((status::FAILURE, format!("too many open handles (limit {MAX_HANDLES})")));
        }
        let id = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1);
        self.handles.insert(id, h);
        Ok(id.to_be_bytes().to_vec())
    }

    fn handle_id(handle: &[u8]) -> Result<u32, Status> {
        <[u8; 4]>::try_from(handle)
            .map(u32::from_be_bytes)
            .map_err(|_| (status::FAILURE, "invalid handle".into()))
    }

    fn file(&self, handle: &[u8]) -> Result<&File, Status> {
        match self.handles.get(&Self::handle_id(handle)?) {
            Some(Handle::File(f)) => Ok(f),
            _ => Err((status::FAILURE, "invalid handle".into())),
        }
    }
}

fn set_attrs(path: Option<&Path>, file: Option<&File>, a: &Attrs) -> io::Result<()> {
    let open;
    let f = match (file, path) {
        (Some(f), _) => f,
        (None, Some(p)) => {
            if let Some(size) = a.size {
                fs::OpenOptions::new().write(true).open(p)?.set_len(size)?;
            }
            if let Some(mode) = a.permissions {
                fs::set_permissions(p, fs::Permissions::from_mode(mode & 0o7777))?;
            }
            if let Some((uid, gid)) = a.uid_gid {
                std::os::unix::fs::chown(p, Some(uid), Some(gid))?;
            }
            if a.atime_mtime.is_none() {
                return Ok(());
            }
            open = File::options().write(true).open(p).or_else(|_| File::open(p))?;
            &open
        }
        (None, None) => return Ok(()),
    };
    if file.is_some() {
        if let Some(size) = a.size {
            f.set_len(size)?;
        }
        if let Some(mode) = a.permissions {
            f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        }
    }
    if let Some((at, mt)) = a.atime_mtime {
        let t = |s: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s as u64);
        f.set_times(fs::FileTimes::new().set_accessed(t(at)).set_modified(t(mt)))?;
    }
    Ok(())
}

/// Handles one request; writes the response frame into `out`.
fn handle(state: &mut State, req: Request<'_>, out: &mut Vec<u8>) {
    let id = req.id();
    let status_reply = |out: &mut Vec<u8>, r: Result<(), Status>| {
        let (code, message) = r.err().unwrap_or((status::OK, "OK".into()));
        Response::Status { id, code, message }.encode(out);
    };
    let result: Result<(), Status> = (|| {
        match req {
            Request::Init { .. } => Err((status::BAD_MESSAGE, "INIT twice".into())),
            Request::Open { path, flags, attrs, .. } => {
                let p = state.resolve(path, true)?;
                let mut o = fs::OpenOptions::new();
                o.read(flags & open_flags::READ != 0)
                    .write(flags & (open_flags::WRITE | open_flags::APPEND) != 0)
                    .append(flags & open_flags::APPEND != 0)
                    .truncate(flags & open_flags::TRUNC != 0);
                if flags & open_flags::CREAT != 0 {
                    if flags & open_flags::EXCL != 0 {
                        o.create_new(true);
                    } else {
                        o.create(true);
                    }
                    std::os::unix::fs::OpenOptionsExt::mode(&mut o, attrs.permissions.unwrap_or(0o644) & 0o7777);
                }
                let f = o.open(&p).map_err(io_status)?;
                if f.metadata().map_err(io_status)?.is_dir() {
                    return Err((status::FAILURE, format!("{path} is a directory")));
                }
                let h = state.add(Handle::File(f))?;
                Response::Handle { id, handle: &h }.encode(out);
                Ok(())
            }
            Request::Close { handle, .. } => {
                let h = State::handle_id(handle)?;
                state
                    .handles
                    .remove(&h)
                    .map(|_| ())
                    .ok_or((status::FAILURE, "invalid handle".into()))?;
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Read {
                handle, offset, len, ..
            } => {
                let f = state.file(handle)?;
                let mut buf = vec![0u8; len.min(MAX_READ) as usize];
                let n = f.read_at(&mut buf, offset).map_err(io_status)?;
                if n == 0 && !buf.is_empty() {
                    Response::Status {
                        id,
                        code: status::EOF,
                        message: "EOF".into(),
                    }
                    .encode(out);
                } else {
                    Response::Data { id, data: &buf[..n] }.encode(out);
                }
                Ok(())
            }
            Request::Write {
                handle, offset, data, ..
            } => {
                state.file(handle)?.write_all_at(data, offset).map_err(io_status)?;
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Stat { path, .. } | Request::Lstat { path, .. } => {
                let follow = matches!(req, Request::Stat { .. });
                let p = state.resolve(path, follow)?;
                let m = if follow {
                    fs::metadata(&p)
                } else {
                    fs::symlink_metadata(&p)
                }
                .map_err(io_status)?;
                Response::Attrs {
                    id,
                    attrs: attrs_of(&m),
                }
                .encode(out);
                Ok(())
            }
            Request::Fstat { handle, .. } => {
                let m = state.file(handle)?.metadata().map_err(io_status)?;
                Response::Attrs {
                    id,
                    attrs: attrs_of(&m),
                }
                .encode(out);
                Ok(())
            }
            Request::Setstat { path, attrs, .. } => {
                let p = state.resolve(path, true)?;
                set_attrs(Some(&p), None, &attrs).map_err(io_status)?;
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Fsetstat { handle, attrs, .. } => {
                set_attrs(None, Some(state.file(handle)?), &attrs).map_err(io_status)?;
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Opendir { path, .. } => {
                let p = state.resolve(path, true)?;
                let mut entries = Vec::new();
                for e in fs::read_dir(&p).map_err(io_status)? {
                    let e = e.map_err(io_status)?;
                    if let Ok(m) = e.path().symlink_metadata() {
                        entries.push((e.file_name().to_string_lossy().into_owned(), attrs_of(&m)));
                    }
                }
                entries.reverse(); // handed out from the end
                let h = state.add(Handle::Dir(entries))?;
                Response::Handle { id, handle: &h }.encode(out);
                Ok(())
            }
            Request::Readdir { handle, .. } => {
                let h = State::handle_id(handle)?;
                let Some(Handle::Dir(entries)) = state.handles.get_mut(&h) else {
                    return Err((status::FAILURE, "invalid handle".into()));
                };
                if entries.is_empty() {
                    return Err((status::EOF, "EOF".into()));
                }
                let batch: Vec<(String, String, Attrs)> = (0..100)
                    .map_while(|_| entries.pop())
                    .map(|(n, a)| (n.clone(), longname(&n, &a), a))
                    .collect();
                Response::Name { id, entries: batch }.encode(out);
                Ok(())
            }
            Request::Remove { path, .. } => {
                fs::remove_file(state.resolve(path, false)?).map_err(io_status)?;
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Mkdir { path, attrs, .. } => {
                let p = state.resolve(path, false)?;
                fs::create_dir(&p).map_err(io_status)?;
                if let Some(mode) = attrs.permissions {
                    let _ = fs::set_permissions(&p, fs::Permissions::from_mode(mode & 0o7777));
                }
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Rmdir { path, .. } => {
                fs::remove_dir(state.resolve(path, false)?).map_err(io_status)?;
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Realpath { path, .. } => {
                let p = state.resolve(path, true)?;
                let real = fs::canonicalize(&p).unwrap_or(p);
                let v = state.virtual_path(&real);
                Response::Name {
                    id,
                    entries: vec![(v.clone(), v, Attrs::default())],
                }
                .encode(out);
                Ok(())
            }
            Request::Rename { from, to, .. } => {
                let (f, t) = (state.resolve(from, false)?, state.resolve(to, false)?);
                if t.symlink_metadata().is_ok() {
                    return Err((status::FAILURE, format!("{to} exists")));
                }
                fs::rename(f, t).map_err(io_status)?;
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Readlink { path, .. } => {
                let target = fs::read_link(state.resolve(path, false)?).map_err(io_status)?;
                let t = target.to_string_lossy().into_owned();
                Response::Name {
                    id,
                    entries: vec![(t.clone(), t, Attrs::default())],
                }
                .encode(out);
                Ok(())
            }
            Request::Symlink { target, link, .. } => {
                std::os::unix::fs::symlink(target, state.resolve(link, false)?).map_err(io_status)?;
                status_reply(out, Ok(()));
                Ok(())
            }
            Request::Extended { name, data, .. } => extended(state, id, name, data, out),
        }
    })();
    if let Err(e) = result {
        out.clear();
        status_reply(out, Err(e));
    }
}

fn extended(state: &mut State, id: u32, name: &str, data: &[u8], out: &mut Vec<u8>) -> Result<(), Status> {
    let bad = |_| (status::BAD_MESSAGE, format!("malformed {name} request"));
    let mut r = Reader::new(data);
    let ok = |out: &mut Vec<u8>| {
        Response::Status {
            id,
            code: status::OK,
            message: "OK".into(),
        }
        .encode(out)
    };
    match name {
        "posix-rename@openssh.com" => {
            let (f, t) = (r.utf8().map_err(bad)?, r.utf8().map_err(bad)?);
            fs::rename(state.resolve(f, false)?, state.resolve(t, false)?).map_err(io_status)?;
            ok(out);
        }
        "hardlink@openssh.com" => {
            let (target, link) = (r.utf8().map_err(bad)?, r.utf8().map_err(bad)?);
            fs::hard_link(state.resolve(target, true)?, state.resolve(link, false)?).map_err(io_status)?;
            ok(out);
        }
        "fsync@openssh.com" => {
            state.file(r.string().map_err(bad)?)?.sync_all().map_err(io_status)?;
            ok(out);
        }
        "lsetstat@openssh.com" => {
            let p = state.resolve(r.utf8().map_err(bad)?, false)?;
            let a = Attrs::decode(&mut r).map_err(|_| (status::BAD_MESSAGE, "bad attrs".into()))?;
            set_attrs(Some(&p), None, &a).map_err(io_status)?;
            ok(out);
        }
        "statvfs@openssh.com" | "fstatvfs@openssh.com" => {
            let p = if name.starts_with('f') {
                let _ = state.file(r.string().map_err(bad)?)?;
                state.root.clone()
            } else {
                state.resolve(r.utf8().map_err(bad)?, true)?
            };
            let s = nix::sys::statvfs::statvfs(&p).map_err(|e| io_status(e.into()))?;
            let mut body = Vec::new();
            let mut w = Writer::new(&mut body);
            for v in [
                s.block_size() as u64,
                s.fragment_size() as u64,
                s.blocks() as u64,
                s.blocks_free() as u64,
                s.blocks_available() as u64,
                s.files() as u64,
                s.files_free() as u64,
                s.files_available() as u64,
                s.filesystem_id() as u64,
                s.flags().bits() as u64,
                s.name_max() as u64,
            ] {
                w.u64(v);
            }
            Response::ExtendedReply { id, data: &body }.encode(out);
        }
        "limits@openssh.com" => {
            let mut body = Vec::new();
            Writer::new(&mut body)
                .u64(256 * 1024)
                .u64(MAX_READ as u64)
                .u64(MAX_READ as u64)
                .u64(MAX_HANDLES as u64);
            Response::ExtendedReply { id, data: &body }.encode(out);
        }
        "expand-path@openssh.com" | "home-directory" => {
            let p = r.utf8().unwrap_or("");
            let p = p
                .strip_prefix("~/")
                .or(if p == "~" { Some("") } else { None })
                .unwrap_or(p);
            let real = state.resolve(if name == "home-directory" { "/" } else { p }, true)?;
            let v = state.virtual_path(&fs::canonicalize(&real).unwrap_or(real));
            Response::Name {
                id,
                entries: vec![(v.clone(), v, Attrs::default())],
            }
            .encode(out);
        }
        "copy-data" => {
            let (rh, roff, rlen) = (r.string().map_err(bad)?, r.u64().map_err(bad)?, r.u64().map_err(bad)?);
            let (wh, mut woff) = (r.string().map_err(bad)?, r.u64().map_err(bad)?);
            let (src, dst) = (state.file(rh)?, state.file(wh)?);
            let mut buf = vec![0u8; 256 * 1024];
            let (mut off, end) = (roff, if rlen == 0 { u64::MAX } else { roff.saturating_add(rlen) });
            while off < end {
                let want = buf.len().min((end - off).min(usize::MAX as u64) as usize);
                let n = src.read_at(&mut buf[..want], off).map_err(io_status)?;
                if n == 0 {
                    break;
                }
                dst.write_all_at(&buf[..n], woff).map_err(io_status)?;
                off += n as u64;
                woff += n as u64;
            }
            ok(out);
        }
        "users-groups-by-id@openssh.com" => {
            let ids = |raw: &[u8]| -> Vec<u32> {
                raw.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            };
            let (uids, gids) = (ids(r.string().map_err(bad)?), ids(r.string().map_err(bad)?));
            let mut users = Vec::new();
            let mut w = Writer::new(&mut users);
            for u in uids {
                let name = nix::unistd::User::from_uid(u.into())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_default();
                w.string(name);
            }
            let mut groups = Vec::new();
            let mut w = Writer::new(&mut groups);
            for g in gids {
                let name = nix::unistd::Group::from_gid(g.into())
                    .ok()
                    .flatten()
                    .map(|g| g.name)
                    .unwrap_or_default();
                w.string(name);
            }
            let mut body = Vec::new();
            Writer::new(&mut body).string(&users).string(&groups);
            Response::ExtendedReply { id, data: &body }.encode(out);
        }
        _ => return Err((status::OP_UNSUPPORTED, format!("{name} is not supported"))),
    }
    Ok(())
}

/// Serves SFTP on `channel` with `root` as the jail, until the client closes.
pub async fn serve_sftp(channel: Channel, root: PathBuf) {
    let root = fs::canonicalize(&root).unwrap_or(root);
    let state = Arc::new(Mutex::new(State {
        root,
        handles: HashMap::new(),
        next_handle: 1,
    }));
    let mut fr = FrameReader::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut initialized = false;
    loop {
        let frame = match fr.next_frame() {
            Ok(Some(f)) => f.to_vec(),
            Ok(None) => match channel.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    fr.push(&buf[..n]);
                    continue;
                }
            },
            Err(e) => {
                tracing::info!("sftp: {e}");
                break;
            }
        };
        let mut out = Vec::new();
        if !initialized {
            match Request::decode(&frame) {
                Ok(Request::Init { .. }) => {
                    let extensions = EXTENSIONS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                    Response::Version { version: 3, extensions }.encode(&mut out);
                    initialized = true;
                }
                _ => break,
            }
        } else {
            let st = state.clone();
            // Filesystem work happens on the blocking pool, off the connection's tasks.
            out = match tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                match Request::decode(&frame) {
                    Ok(req) => handle(&mut st.lock().unwrap_or_else(|p| p.into_inner()), req, &mut out),
                    Err(e) => {
                        // An undecodable request still gets an answer if its id can be read.
                        let id = frame
                            .get(1..5)
                            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                        Response::Status {
                            id,
                            code: status::BAD_MESSAGE,
                            message: e.to_string(),
                        }
                        .encode(&mut out);
                    }
                }
                out
            })
            .await
            {
                Ok(o) => o,
                Err(_) => break,
            };
        }
        if channel.write_all_data(&out).await.is_err() {
            break;
        }
    }
    let _ = channel.eof().await;
    let _ = channel.close();
}
