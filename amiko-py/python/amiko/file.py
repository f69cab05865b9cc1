"""Paramiko's ``BufferedFile``: file-like reading and writing over something that sends and receives bytes.

``read`` returns bytes; ``readline``, ``readlines`` and iteration return ``str`` unless the mode has ``b``, as in
Paramiko.
"""

__all__ = ["BufferedFile", "ClosingContextManager"]


class ClosingContextManager:
    def __enter__(self):
        return self

    def __exit__(self, type, value, traceback):
        self.close()


class BufferedFile(ClosingContextManager):
    _DEFAULT_BUFSIZE = 32768

    SEEK_SET = 0
    SEEK_CUR = 1
    SEEK_END = 2

    FLAG_READ = 0x1
    FLAG_WRITE = 0x2
    FLAG_APPEND = 0x4
    FLAG_BINARY = 0x10
    FLAG_BUFFERED = 0x20
    FLAG_LINE_BUFFERED = 0x40
    FLAG_UNIVERSAL_NEWLINE = 0x80

    def __init__(self):
        self.newlines = None
        self._flags = 0
        self._bufsize = self._DEFAULT_BUFSIZE
        self._rbuffer = bytearray()
        self._closed = False
        self._pos = 0

    def _set_mode(self, mode="r", bufsize=-1):
        self._flags = 0
        if "r" in mode or "+" in mode:
            self._flags |= self.FLAG_READ
        if "w" in mode or "+" in mode or "a" in mode:
            self._flags |= self.FLAG_WRITE
        if "a" in mode:
            self._flags |= self.FLAG_APPEND
        if "b" in mode:
            self._flags |= self.FLAG_BINARY
        if bufsize is not None and bufsize > 1:
            self._bufsize = bufsize

    # Subclasses provide these.
    def _read(self, size):
        raise NotImplementedError

    def _read_all(self):
        out = bytearray()
        while True:
            chunk = self._read(self._bufsize)
            if not chunk:
                return bytes(out)
            out += chunk

    def _write(self, data):
        raise NotImplementedError

    @property
    def closed(self):
        return self._closed

    def close(self):
        self.flush()
        self._closed = True

    def flush(self):
        pass

    def readable(self):
        return bool(self._flags & self.FLAG_READ)

    def writable(self):
        return bool(self._flags & self.FLAG_WRITE)

    def seekable(self):
        return False

    def _check_read(self):
        if self._closed:
            raise IOError("File is closed")
        if not (self._flags & self.FLAG_READ):
            raise IOError("File is not open for reading")

    def read(self, size=None):
        """Up to ``size`` bytes (all, to the end, if None or negative)."""
        self._check_read()
        if size is None or size < 0:
            data = bytes(self._rbuffer) + self._read_all()
            self._rbuffer = bytearray()
            self._pos += len(data)
            return data
        while len(self._rbuffer) < size:
            chunk = self._read(max(self._bufsize, size - len(self._rbuffer)))
            if not chunk:
                break
            self._rbuffer += chunk
        data = bytes(self._rbuffer[:size])
        del self._rbuffer[:size]
        self._pos += len(data)
        return data

    def readline(self, size=None):
        """One line with its newline; ``str`` unless the file is binary. Empty at the end."""
        self._check_read()
        start = 0
        while True:
            i = self._rbuffer.find(b"\n", start)
            if i >= 0:
                end = i + 1
                break
            if size is not None and 0 <= size <= len(self._rbuffer):
                end = size
                break
            start = len(self._rbuffer)
            chunk = self._read(self._bufsize)
            if not chunk:
                end = len(self._rbuffer)
                break
            self._rbuffer += chunk
        if size is not None and 0 <= size < end:
            end = size
        line = bytes(self._rbuffer[:end])
        del self._rbuffer[:end]
        self._pos += len(line)
        return line if self._flags & self.FLAG_BINARY else line.decode("utf-8")

    def readlines(self, sizehint=None):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if sizehint is not None and 0 < sizehint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readinto(self, buff):
        data = self.read(len(buff))
        buff[: len(data)] = data
        return len(data)

    def write(self, data):
        """Writes ``data`` (``str`` is encoded as UTF-8)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self._closed:
            raise IOError("File is closed")
        if not (self._flags & self.FLAG_WRITE):
            raise IOError("File not open for writing")
        self._write(bytes(data))
        self._pos += len(data)
        return None

    def writelines(self, sequence):
        for line in sequence:
            self.write(line)

    def xreadlines(self):
        return self

    def tell(self):
        return self._pos
