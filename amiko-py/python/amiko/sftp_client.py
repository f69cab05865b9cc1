"""Paramiko's ``SFTPClient``: remote files over the SFTP subsystem (draft v3, OpenSSH's extensions)."""

import os
import stat
import time

from .file import ClosingContextManager
from .sftp_attr import SFTPAttributes
from .sftp_file import SFTPFile
from .ssh_exception import SSHException

__all__ = ["SFTPClient", "SFTP"]


class SFTPClient(ClosingContextManager):
    """An SFTP session: ``SSHClient.open_sftp()`` or ``SFTPClient.from_transport(t)``.

    ``get`` and ``put`` are pipelined (many requests in flight) and ``put`` renames into place at the end, so a
    target is never left half-written.
    """

    def __init__(self, sock):
        # sock: the transport (amiko opens the subsystem itself).
        if not hasattr(sock, "_native"):
            raise SSHException("amiko's SFTPClient is created from a Transport or SSHClient.open_sftp()")
        self._transport = sock
        self._native = sock._native.open_sftp(None)
        self._cwd = None

    @classmethod
    def from_transport(cls, t, window_size=None, max_packet_size=None):
        return cls(t)

    def close(self):
        self._native = None

    def get_channel(self):
        return None

    def _check(self):
        if self._native is None:
            raise OSError("Socket is closed")
        return self._native

    def _adjust_cwd(self, path):
        path = os.fspath(path)
        if isinstance(path, bytes):
            path = path.decode("utf-8")
        if self._cwd is None or path.startswith("/"):
            return path
        if self._cwd == "/":
            return self._cwd + path
        return self._cwd + "/" + path

    # ---- directories ----
    def listdir(self, path="."):
        return [a.filename for a in self.listdir_attr(path)]

    def listdir_attr(self, path="."):
        entries = self._check().listdir_attr(self._adjust_cwd(path))
        return [SFTPAttributes._from_native(attrs, name) for name, attrs in entries]

    def listdir_iter(self, path=".", read_aheads=50):
        return iter(self.listdir_attr(path))

    def mkdir(self, path, mode=0o777):
        self._check().mkdir(self._adjust_cwd(path), mode)

    def rmdir(self, path):
        self._check().rmdir(self._adjust_cwd(path))

    def chdir(self, path=None):
        """Sets the directory relative paths start from (None: back to the server's default)."""
        if path is None:
            self._cwd = None
            return
        if not stat.S_ISDIR(self.stat(path).st_mode):
            raise IOError(2, "{}: Not a directory".format(path))
        self._cwd = self.normalize(path)

    def getcwd(self):
        return self._cwd

    # ---- files ----
    def open(self, filename, mode="r", bufsize=-1):
        path = self._adjust_cwd(filename)
        return SFTPFile(self, self._check().open(path, mode), path, mode, bufsize)

    file = open

    def remove(self, path):
        self._check().remove(self._adjust_cwd(path))

    unlink = remove

    def rename(self, oldpath, newpath):
        self._check().rename(self._adjust_cwd(oldpath), self._adjust_cwd(newpath))

    def posix_rename(self, oldpath, newpath):
        self._check().posix_rename(self._adjust_cwd(oldpath), self._adjust_cwd(newpath))

    def stat(self, path):
        return SFTPAttributes._from_native(self._check().stat(self._adjust_cwd(path)))

    def lstat(self, path):
        return SFTPAttributes._from_native(self._check().lstat(self._adjust_cwd(path)))

    def symlink(self, source, dest):
        """Creates a symbolic link ``dest`` pointing to ``source``."""
        self._check().symlink(source, self._adjust_cwd(dest))

    def readlink(self, path):
        return self._check().readlink(self._adjust_cwd(path))

    def normalize(self, path):
        return self._check().normalize(self._adjust_cwd(path))

    def chmod(self, path, mode):
        self._check().setstat(self._adjust_cwd(path), mode=mode)

    def chown(self, path, uid, gid):
        self._check().setstat(self._adjust_cwd(path), uid=uid, gid=gid)

    def utime(self, path, times):
        """Sets (atime, mtime); None means now."""
        if times is None:
            times = (time.time(), time.time())
        self._check().setstat(self._adjust_cwd(path), atime=int(times[0]), mtime=int(times[1]))

    def truncate(self, path, size):
        self._check().setstat(self._adjust_cwd(path), size=size)

    def statvfs(self, path):
        return self._check().statvfs(self._adjust_cwd(path))

    # ---- transfers ----
    def get(self, remotepath, localpath, callback=None, prefetch=True, max_concurrent_prefetch_requests=None):
        """Downloads ``remotepath`` to ``localpath``; ``callback(bytes_so_far, total)`` reports progress."""
        self._check().get(self._adjust_cwd(remotepath), os.fspath(localpath), callback)

    def put(self, localpath, remotepath, callback=None, confirm=True):
        """Uploads ``localpath``; returns the new file's ``SFTPAttributes``."""
        local = os.fspath(localpath)
        attrs = SFTPAttributes._from_native(self._check().put(local, self._adjust_cwd(remotepath), callback))
        if confirm:
            size = os.stat(local).st_size
            if attrs.st_size != size:
                raise IOError("size mismatch in put!  {} != {}".format(attrs.st_size, size))
        return attrs

    def getfo(self, remotepath, fl, callback=None, prefetch=True, max_concurrent_prefetch_requests=None):
        """Downloads into the open file object ``fl``; returns the number of bytes."""
        with self.open(remotepath, "rb") as fr:
            file_size = self.stat(remotepath).st_size
            size = 0
            while True:
                data = fr.read(1 << 20)
                fl.write(data)
                size += len(data)
                if callback is not None:
                    callback(size, file_size)
                if not data:
                    break
        return size

    def putfo(self, fl, remotepath, file_size=0, callback=None, confirm=True):
        """Uploads from the file object ``fl``; returns the new file's ``SFTPAttributes``."""
        with self.open(remotepath, "wb") as fr:
            size = 0
            while True:
                data = fl.read(1 << 20)
                if not data:
                    break
                fr.write(data)
                size += len(data)
                if callback is not None:
                    callback(size, file_size)
        if confirm:
            s = self.stat(remotepath)
            if s.st_size != size:
                raise IOError("size mismatch in put!  {} != {}".format(s.st_size, size))
            return s
        return SFTPAttributes()


class SFTP(SFTPClient):
    """An alias, as in Paramiko."""
