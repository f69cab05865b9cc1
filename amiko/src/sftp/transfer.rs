//! Whole-file transfers: many requests in flight, replies taken in any order and written at their offsets,
//! resume after checking what is there, and atomic puts (temporary name, then posix-rename).

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use amiko_proto::sftp::{open_flags, status, Attrs};
use tokio::task::JoinSet;

use super::client::Sftp;
use super::SftpError;
use crate::error::{Error, Result};

/// Called with (bytes done, total) as a transfer goes.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How a transfer runs.
#[derive(Clone)]
pub struct TransferOptions {
    /// Requests in flight at once.
    pub in_flight: usize,
    /// Continue a partial file (after checking that its tail matches) instead of starting over.
    pub resume: bool,
    /// Put: write to a temporary name and rename over the target at the end, so it is never half-written.
    pub atomic: bool,
    /// Keep the source's modification time and mode.
    pub preserve: bool,
    /// Progress callback.
    pub progress: Option<Progress>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            in_flight: 64,
            resume: false,
            atomic: true,
            preserve: true,
            progress: None,
        }
    }
}

fn io(ctx: &str, e: std::io::Error) -> Error {
    Error::io(ctx.to_string(), e)
}

/// Bytes compared at the end of a partial file before resuming from it.
const RESUME_CHECK: u64 = 64 * 1024;
/// How far past the lowest byte still in flight a transfer may ask for (get) or send (put). Requests are made in
/// offset order, but replies and writes may land in any order (a server may run requests at once; our download
/// writes in arrival order), so a transfer cut off at any moment leaves a partial file complete up to (its size -
/// this) and perhaps holed after; `resume` goes back this far. It is the channel window we grant by default, so
/// it does not hold a download back.
const REORDER_WINDOW: u64 = 8 << 20;

/// Where a resumed transfer may start, given the partial file's size: [`REORDER_WINDOW`] back from its end (the
/// bytes before that are whole, see there), once the [`RESUME_CHECK`] bytes before that point have matched.
fn resume_point(have: u64) -> (u64, u64) {
    let start = have.saturating_sub(REORDER_WINDOW);
    (start, start.min(RESUME_CHECK))
}

/// Offsets in flight, to keep new requests within [`REORDER_WINDOW`] of the lowest.
#[derive(Default)]
struct InFlight(std::collections::BTreeSet<u64>);

impl InFlight {
    fn sent(&mut self, off: u64) {
        self.0.insert(off);
    }

    fn answered(&mut self, off: u64) {
        self.0.remove(&off);
    }

    /// Whether `len` bytes at `off` (the next in offset order) may go now.
    fn allows(&self, off: u64, len: u64) -> bool {
        let lowest = self.0.first().copied().unwrap_or(off);
        off + len <= lowest + REORDER_WINDOW
    }
}
/// Downloaded chunks waiting for the file writer (each up to the server's read limit, 255 KiB at most).
const WRITE_QUEUE: usize = 16;

/// How far a file is written without holes, from the chunks written so far (in any order).
struct Prefix {
    end: u64,
    /// Chunks written beyond `end`: offset → length.
    ahead: std::collections::BTreeMap<u64, u64>,
}

impl Prefix {
    fn new(end: u64) -> Self {
        Prefix {
            end,
            ahead: Default::default(),
        }
    }

    fn add(&mut self, off: u64, len: u64) {
        if off > self.end {
            self.ahead.insert(off, len);
            return;
        }
        self.end = self.end.max(off + len);
        while let Some(entry) = self.ahead.first_entry() {
            if *entry.key() > self.end {
                break;
            }
            let (off, len) = entry.remove_entry();
            self.end = self.end.max(off + len);
        }
    }
}

fn part_name(target: &str) -> String {
    match target.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.amiko-part"),
        None => format!(".{target}.amiko-part"),
    }
}

impl Sftp {
    /// Downloads `remote` to `local`. The data goes to `local` + ".amiko-part" and is renamed at the end; with
    /// `resume`, an existing part file is continued from 8 MiB before its end (a cut transfer may leave holes
    /// after that point) once the 64 KiB before that point match the remote file.
    pub async fn get(&self, remote: &str, local: &Path, opts: &TransferOptions) -> Result<u64> {
        let attrs = self.stat(remote).await?;
        if attrs.is_dir() {
            return Err(Error::Sftp(SftpError {
                code: status::FAILURE,
                message: "is a directory".into(),
                path: Some(remote.into()),
            }));
        }
        let total = attrs.size.unwrap_or(0);
        let part = local.with_file_name(format!(
            "{}.amiko-part",
            local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let handle = Arc::new(self.open_read(remote).await?);
        let mut start = 0u64;
        if opts.resume {
            if let Ok(m) = std::fs::metadata(&part) {
                let (at, check) = resume_point(m.len().min(total));
                let mut mine = vec![0u8; check as usize];
                let f = std::fs::File::open(&part).map_err(|e| io("opening the partial file", e))?;
                f.read_exact_at(&mut mine, at - check)
                    .map_err(|e| io("reading the partial file", e))?;
                let theirs = self.read_exact_at(&handle, at - check, check as usize).await?;
                if theirs == mine {
                    start = at;
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(start == 0)
            .open(&part)
            .map_err(|e| io(&format!("creating {}", part.display()), e))?;
        file.set_len(start).map_err(|e| io("truncating the partial file", e))?;
        // One thread writes the file while the loop goes on receiving: the replies' buffers are handed to it (not
        // copied), and the loop no longer stops for each write before asking for more. The queue is bounded, so a
        // slow disk still holds the download back.
        let (to_disk, mut queued) = tokio::sync::mpsc::channel::<(u64, Vec<u8>)>(WRITE_QUEUE);
        let disk = tokio::task::spawn_blocking(move || {
            let mut written = Prefix::new(start);
            let mut r = Ok(());
            while let Some((off, data)) = queued.blocking_recv() {
                if let Err(e) = file.write_all_at(&data, off) {
                    r = Err(e);
                    break;
                }
                written.add(off, data.len() as u64);
            }
            if written.end < total {
                // Stopped early. Replies land out of order, so the file may have holes before its last byte:
                // cut it back to the part that is complete from the start. (If we are killed before this, the
                // holes are within REORDER_WINDOW of the end, which `--resume` fetches again.)
                let _ = file.set_len(written.end);
            }
            r.map(|()| file)
        });
        let chunk = self.limits().0 as u64;
        let mut next = start;
        let mut done = start;
        let mut tasks: JoinSet<Result<(u64, Vec<u8>)>> = JoinSet::new();
        let mut in_flight = InFlight::default();
        let spawn = |tasks: &mut JoinSet<Result<(u64, Vec<u8>)>>, in_flight: &mut InFlight, off: u64, len: u64| {
            let (s, h) = (self.clone(), handle.clone());
            in_flight.sent(off);
            tasks.spawn(async move { Ok((off, s.read(&h, off, len as u32).await?)) });
        };
        let result: Result<()> = async {
            loop {
                while tasks.len() < opts.in_flight.max(1) && next < total {
                    let len = chunk.min(total - next);
                    if !in_flight.allows(next, len) {
                        break;
                    }
                    spawn(&mut tasks, &mut in_flight, next, len);
                    next += len;
                }
                let Some(joined) = tasks.join_next().await else { break };
                let (off, data) = joined.map_err(|e| Error::Channel(format!("transfer task: {e}")))??;
                in_flight.answered(off);
                if data.is_empty() {
                    return Err(Error::Channel(format!(
                        "{remote} shrank during the transfer (EOF at {off})"
                    )));
                }
                let got = data.len() as u64;
                if to_disk.send((off, data)).await.is_err() {
                    // The writer stopped on an error, which is reported below.
                    break;
                }
                done += got;
                // A short read: ask for the rest of that range.
                let want = chunk.min(total - off);
                if got < want {
                    spawn(&mut tasks, &mut in_flight, off + got, want - got);
                }
                if let Some(p) = &opts.progress {
                    p(done, total);
                }
            }
            Ok(())
        }
        .await;
        tasks.abort_all();
        drop(to_disk);
        // Whatever was queued is written before we return, also on failure: a resume goes on from the file's end.
        let written = disk.await.map_err(|e| Error::Channel(e.to_string()));
        let _ = self.close(&handle).await;
        result?;
        drop(written?.map_err(|e| io("writing the local file", e))?);
        if opts.preserve {
            set_local_times_and_mode(&part, &attrs);
        }
        std::fs::rename(&part, local).map_err(|e| io(&format!("renaming to {}", local.display()), e))?;
        Ok(total)
    }

    async fn read_exact_at(&self, handle: &[u8], mut off: u64, mut len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while len > 0 {
            let d = self.read(handle, off, len as u32).await?;
            if d.is_empty() {
                break;
            }
            off += d.len() as u64;
            len -= d.len().min(len);
            out.extend_from_slice(&d);
        }
        Ok(out)
    }

    /// Uploads `local` to `remote`: to a temporary name then renamed over `remote` (atomic), or in place. With
    /// `resume`, a partial upload is continued from 8 MiB before its end (a server that runs writes at once may
    /// leave holes after that point when cut off) once the 64 KiB before that point match the local file.
    pub async fn put(&self, local: &Path, remote: &str, opts: &TransferOptions) -> Result<u64> {
        let file = std::fs::File::open(local).map_err(|e| io(&format!("opening {}", local.display()), e))?;
        let meta = file.metadata().map_err(|e| io("stat of the local file", e))?;
        let total = meta.len();
        let target = if opts.atomic {
            part_name(remote)
        } else {
            remote.to_string()
        };
        let mut start = 0;
        if opts.resume {
            if let Ok(a) = self.stat(&target).await {
                let (at, check) = resume_point(a.size.unwrap_or(0).min(total));
                let h = self.open_read(&target).await?;
                let theirs = self.read_exact_at(&h, at - check, check as usize).await;
                let _ = self.close(&h).await;
                let mut mine = vec![0u8; check as usize];
                file.read_exact_at(&mut mine, at - check)
                    .map_err(|e| io("reading the local file", e))?;
                if theirs? == mine {
                    start = at;
                }
            }
        }
        let flags = open_flags::WRITE | open_flags::CREAT | if start == 0 { open_flags::TRUNC } else { 0 };
        let mode = Attrs {
            permissions: Some(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777),
            ..Default::default()
        };
        let handle = Arc::new(self.open(&target, flags, mode).await?);
        let file = Arc::new(file);
        let chunk = self.limits().1 as u64;
        let mut next = start;
        let mut done = start;
        let mut tasks: JoinSet<Result<(u64, u64)>> = JoinSet::new();
        let mut in_flight = InFlight::default();
        let result: Result<()> = async {
            loop {
                while tasks.len() < opts.in_flight.max(1) && next < total {
                    let len = chunk.min(total - next);
                    if !in_flight.allows(next, len) {
                        break;
                    }
                    let off = next;
                    let f = file.clone();
                    let data = tokio::task::spawn_blocking(move || {
                        let mut buf = vec![0u8; len as usize];
                        f.read_exact_at(&mut buf, off).map(|_| buf)
                    })
                    .await
                    .map_err(|e| Error::Channel(e.to_string()))?
                    .map_err(|e| io("reading the local file", e))?;
                    // Sent here, in offset order, and only the replies awaited in tasks: a server that handles
                    // requests in order (as OpenSSH's does) then holds the file's first bytes with no holes if we
                    // are cut off; one that runs them at once may leave holes, but only within REORDER_WINDOW of
                    // the end, which `--resume` sends again.
                    let reply = self.send_write(&handle, off, &data).await?;
                    in_flight.sent(off);
                    tasks.spawn(async move { reply.await.map(|_| (off, len)) });
                    next += len;
                }
                let Some(joined) = tasks.join_next().await else { break };
                let (off, len) = joined.map_err(|e| Error::Channel(format!("transfer task: {e}")))??;
                in_flight.answered(off);
                done += len;
                if let Some(p) = &opts.progress {
                    p(done, total);
                }
            }
            Ok(())
        }
        .await;
        tasks.abort_all();
        let closed = self.close(&handle).await;
        result?;
        closed?;
        if opts.preserve {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as u32);
            let atime = meta
                .accessed()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as u32);
            if let (Some(a), Some(m)) = (atime, mtime) {
                let _ = self
                    .setstat(
                        &target,
                        Attrs {
                            atime_mtime: Some((a, m)),
                            ..Default::default()
                        },
                    )
                    .await;
            }
        }
        if opts.atomic {
            if self.has_extension("posix-rename@openssh.com") {
                self.posix_rename(&target, remote).await?;
            } else {
                let _ = self.remove(remote).await;
                self.rename(&target, remote).await?;
            }
        }
        Ok(total)
    }

    /// Downloads a directory tree, keeping modes and mtimes. Files go several at a time (each one pipelined too),
    /// so many small files do not cost a round trip each in sequence.
    pub async fn get_dir(&self, remote: &str, local: &Path, opts: &TransferOptions) -> Result<u64> {
        let mut files = Vec::new();
        let mut dirs = vec![(remote.trim_end_matches('/').to_string(), local.to_path_buf())];
        while let Some((r, l)) = dirs.pop() {
            std::fs::create_dir_all(&l).map_err(|e| io(&format!("creating {}", l.display()), e))?;
            for (name, attrs) in self.listdir_attr(&r).await? {
                let (rr, ll) = (format!("{r}/{name}"), l.join(&name));
                if attrs.is_dir() {
                    dirs.push((rr, ll));
                } else if attrs.is_file() {
                    files.push((rr, ll));
                }
            }
        }
        self.transfer_many(files, false, opts).await
    }

    /// Uploads a directory tree, keeping modes and mtimes; files go several at a time, as in [`Sftp::get_dir`].
    pub async fn put_dir(&self, local: &Path, remote: &str, opts: &TransferOptions) -> Result<u64> {
        let mut files = Vec::new();
        let mut dirs = vec![(remote.trim_end_matches('/').to_string(), local.to_path_buf())];
        while let Some((r, l)) = dirs.pop() {
            if self.stat(&r).await.is_err() {
                self.mkdir(&r, 0o755).await?;
            }
            let entries = std::fs::read_dir(&l).map_err(|e| io(&format!("reading {}", l.display()), e))?;
            for e in entries {
                let e = e.map_err(|e| io("reading a directory", e))?;
                let rr = format!("{r}/{}", e.file_name().to_string_lossy());
                let ft = e.file_type().map_err(|e| io("file type", e))?;
                if ft.is_dir() {
                    dirs.push((rr, e.path()));
                } else if ft.is_file() {
                    files.push((rr, e.path()));
                }
            }
        }
        self.transfer_many(files, true, opts).await
    }

    async fn transfer_many(&self, files: Vec<(String, PathBuf)>, put: bool, opts: &TransferOptions) -> Result<u64> {
        let mut set: JoinSet<Result<u64>> = JoinSet::new();
        let mut pending = files.into_iter();
        let mut total = 0;
        loop {
            while set.len() < FILES_IN_FLIGHT {
                let Some((r, l)) = pending.next() else { break };
                let (s, o) = (self.clone(), opts.clone());
                set.spawn(async move {
                    if put {
                        s.put(&l, &r, &o).await
                    } else {
                        s.get(&r, &l, &o).await
                    }
                });
            }
            match set.join_next().await {
                None => return Ok(total),
                Some(r) => total += r.map_err(|e| Error::Channel(format!("transfer task: {e}")))??,
            }
        }
    }
}

/// Files transferred at once by the recursive operations.
const FILES_IN_FLIGHT: usize = 16;

fn set_local_times_and_mode(path: &Path, attrs: &Attrs) {
    if let Some(p) = attrs.permissions {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(p & 0o7777));
    }
    if let Some((a, m)) = attrs.atime_mtime {
        let to = |s: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s as u64);
        if let Ok(f) = std::fs::File::options().write(true).open(path) {
            let _ = f.set_times(std::fs::FileTimes::new().set_accessed(to(a)).set_modified(to(m)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Prefix;

    #[test]
    fn prefix_ends_at_the_first_hole() {
        let mut p = Prefix::new(100);
        p.add(300, 100); // a hole at 100..300
        assert_eq!(p.end, 100);
        p.add(200, 100);
        assert_eq!(p.end, 100);
        p.add(100, 100); // fills the hole: all three join up
        assert_eq!(p.end, 400);
        assert!(p.ahead.is_empty());
        p.add(500, 50);
        p.add(400, 50); // still a hole at 450..500
        assert_eq!(p.end, 450);
        p.add(450, 50);
        assert_eq!(p.end, 550);
        // A chunk again (a short read asked again), overlapping what is there.
        p.add(520, 10);
        assert_eq!(p.end, 550);
    }
}
