"""Paramiko's ``SFTPFile``: a remote file with read-ahead and write-behind."""

from .file import BufferedFile
from .sftp_attr import SFTPAttributes

__all__ = ["SFTPFile"]


class SFTPFile(BufferedFile):
    """An open remote file. ``read`` returns bytes; ``readline`` returns str unless the mode has ``b``.

    Reads always run ahead (several requests in flight) and writes are gathered and sent in parallel, so
    ``prefetch`` and ``set_pipelined`` are accepted but change nothing.
    """

    def __init__(self, sftp, native, path, mode="r", bufsize=-1):
        BufferedFile.__init__(self)
        self.sftp = sftp
        self._native = native
        self._path = path
        self.mode = mode
        self._set_mode(mode, bufsize)
        self.pipelined = False

    def __repr__(self):
        return "<amiko.SFTPFile {!r} ({})>".format(self._path, self.mode)

    def read(self, size=None):
        self._check_read()
        if self._rbuffer:
            return BufferedFile.read(self, size)
        data = self._native.read(None if size is None or size < 0 else size)
        return data

    def readline(self, size=None):
        self._check_read()
        if self._rbuffer:
            return BufferedFile.readline(self, size)
        line = self._native.readline(None if size is None or size < 0 else size)
        return line if self._flags & self.FLAG_BINARY else line.decode("utf-8")

    def _read(self, size):
        return self._native.read(size)

    def _write(self, data):
        self._native.write(data)

    def write(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self._closed:
            raise IOError("File is closed")
        self._native.write(bytes(data))

    def flush(self):
        if not self._closed:
            self._native.flush()

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        self._rbuffer = bytearray()
        return self._native.seek(offset, whence)

    def tell(self):
        return self._native.tell()

    def close(self):
        if not self._closed:
            self._closed = True
            self._native.close()

    def stat(self):
        return SFTPAttributes._from_native(self._native.stat())

    def chmod(self, mode):
        self.sftp.chmod(self._path, mode)

    def chown(self, uid, gid):
        self.sftp.chown(self._path, uid, gid)

    def utime(self, times):
        self.sftp.utime(self._path, times)

    def truncate(self, size):
        self.flush()
        self.sftp.truncate(self._path, size)

    def settimeout(self, timeout):
        pass

    def gettimeout(self):
        return None

    def setblocking(self, blocking):
        pass

    def set_pipelined(self, pipelined=True):
        self.pipelined = pipelined

    def prefetch(self, file_size=None, max_concurrent_requests=None):
        """Accepted for compatibility: reads already run ahead."""

    def readv(self, chunks, max_concurrent_prefetch_requests=None):
        """The data of each (offset, length) in ``chunks``."""
        out = []
        for offset, length in chunks:
            self.seek(offset)
            out.append(self.read(length))
        return out

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
