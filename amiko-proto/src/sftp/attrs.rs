//! File attributes (draft-02 §5).

use crate::error::Result;
use crate::wire::{Reader, Writer};

const SIZE: u32 = 0x1;
const UIDGID: u32 = 0x2;
const PERMISSIONS: u32 = 0x4;
const ACMODTIME: u32 = 0x8;
const EXTENDED: u32 = 0x8000_0000;

/// File attributes; absent fields are None.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Size in bytes.
    pub size: Option<u64>,
    /// Owner and group ids.
    pub uid_gid: Option<(u32, u32)>,
    /// Mode bits, file type included (S_IFMT).
    pub permissions: Option<u32>,
    /// Access and modification times (seconds since the epoch).
    pub atime_mtime: Option<(u32, u32)>,
}

impl Attrs {
    /// Whether the mode says directory.
    pub fn is_dir(&self) -> bool {
        self.permissions.is_some_and(|p| p & 0o170000 == 0o040000)
    }

    /// Whether the mode says regular file.
    pub fn is_file(&self) -> bool {
        self.permissions.is_some_and(|p| p & 0o170000 == 0o100000)
    }

    /// Whether the mode says symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.permissions.is_some_and(|p| p & 0o170000 == 0o120000)
    }

    /// Decodes attributes; extended pairs are read and dropped (their count is bounded by the data).
    pub fn decode(r: &mut Reader<'_>) -> Result<Attrs> {
        let flags = r.u32()?;
        let mut a = Attrs::default();
        if flags & SIZE != 0 {
            a.size = Some(r.u64()?);
        }
        if flags & UIDGID != 0 {
            a.uid_gid = Some((r.u32()?, r.u32()?));
        }
        if flags & PERMISSIONS != 0 {
            a.permissions = Some(r.u32()?);
        }
        if flags & ACMODTIME != 0 {
            a.atime_mtime = Some((r.u32()?, r.u32()?));
        }
        if flags & EXTENDED != 0 {
            let n = r.u32()?;
            for _ in 0..n {
                r.string()?;
                r.string()?;
            }
        }
        Ok(a)
    }

    /// Encodes attributes.
    pub fn encode(&self, w: &mut Writer<'_>) {
        let flags = self.size.map_or(0, |_| SIZE)
            | self.uid_gid.map_or(0, |_| UIDGID)
            | self.permissions.map_or(0, |_| PERMISSIONS)
            | self.atime_mtime.map_or(0, |_| ACMODTIME);
        w.u32(flags);
        if let Some(s) = self.size {
            w.u64(s);
        }
        if let Some((u, g)) = self.uid_gid {
            w.u32(u).u32(g);
        }
        if let Some(p) = self.permissions {
            w.u32(p);
        }
        if let Some((a, m)) = self.atime_mtime {
            w.u32(a).u32(m);
        }
    }
}
