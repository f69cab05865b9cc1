"""Paramiko's ``SFTPAttributes``: what stat says about a remote file."""

import stat
import time

__all__ = ["SFTPAttributes"]


class SFTPAttributes:
    """``st_size``, ``st_uid``, ``st_gid``, ``st_mode``, ``st_atime``, ``st_mtime`` (None when not sent), and
    ``filename`` for directory listings."""

    FLAG_SIZE = 1
    FLAG_UIDGID = 2
    FLAG_PERMISSIONS = 4
    FLAG_AMTIME = 8

    def __init__(self):
        self._flags = 0
        self.st_size = None
        self.st_uid = None
        self.st_gid = None
        self.st_mode = None
        self.st_atime = None
        self.st_mtime = None
        self.attr = {}
        self.filename = None
        self.longname = None

    @classmethod
    def _from_native(cls, t, filename=None):
        a = cls()
        a.st_size, a.st_uid, a.st_gid, a.st_mode, a.st_atime, a.st_mtime = t
        a.filename = filename
        if a.st_size is not None:
            a._flags |= cls.FLAG_SIZE
        if a.st_uid is not None:
            a._flags |= cls.FLAG_UIDGID
        if a.st_mode is not None:
            a._flags |= cls.FLAG_PERMISSIONS
        if a.st_atime is not None:
            a._flags |= cls.FLAG_AMTIME
        if filename is not None:
            a.longname = str(a)
        return a

    @classmethod
    def from_stat(cls, obj, filename=None):
        """From an ``os.stat_result``."""
        return cls._from_native(
            (obj.st_size, obj.st_uid, obj.st_gid, obj.st_mode, int(obj.st_atime), int(obj.st_mtime)), filename)

    def __repr__(self):
        return "<SFTPAttributes: {}>".format(self._debug_str())

    def _debug_str(self):
        out = "[ "
        if self.st_size is not None:
            out += "size={} ".format(self.st_size)
        if self.st_uid is not None and self.st_gid is not None:
            out += "uid={} gid={} ".format(self.st_uid, self.st_gid)
        if self.st_mode is not None:
            out += "mode=" + oct(self.st_mode) + " "
        if self.st_atime is not None and self.st_mtime is not None:
            out += "atime={} mtime={} ".format(self.st_atime, self.st_mtime)
        return out + "]"

    def __str__(self):
        """An ``ls -l`` line."""
        if self.st_mode is not None:
            kind = stat.S_IFMT(self.st_mode)
            ks = {stat.S_IFIFO: "p", stat.S_IFCHR: "c", stat.S_IFDIR: "d", stat.S_IFBLK: "b", stat.S_IFREG: "-",
                  stat.S_IFLNK: "l", stat.S_IFSOCK: "s"}.get(kind, "?")
            ks += _rwx((self.st_mode & 0o700) >> 6, self.st_mode & stat.S_ISUID)
            ks += _rwx((self.st_mode & 0o70) >> 3, self.st_mode & stat.S_ISGID)
            ks += _rwx(self.st_mode & 7, self.st_mode & stat.S_ISVTX, True)
        else:
            ks = "?---------"
        if self.st_mtime is None or abs(time.time() - self.st_mtime) > 15552000:
            datestr = time.strftime("%d %b %Y", time.localtime(self.st_mtime or 0))
        else:
            datestr = time.strftime("%d %b %H:%M", time.localtime(self.st_mtime))
        filename = self.filename if self.filename is not None else "?"
        uid = self.st_uid if self.st_uid is not None else 0
        gid = self.st_gid if self.st_gid is not None else 0
        size = self.st_size if self.st_size is not None else 0
        return "{}   1 {:<8} {:<8} {:>8} {:<12} {}".format(ks, uid, gid, size, datestr, filename)

    def asbytes(self):
        return str(self).encode()


def _rwx(n, suid, sticky=False):
    if suid:
        suid = 2
    out = "-r"[n >> 2] + "-w"[(n >> 1) & 1]
    if sticky:
        out += "-xTt"[suid + (n & 1)]
    else:
        out += "-xSs"[suid + (n & 1)]
    return out
