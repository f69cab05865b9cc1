"""Paramiko's ``HostKeys``: a known_hosts file as a mapping of host name to {key type: key}."""

import base64
import hmac
import os
from collections.abc import MutableMapping
from hashlib import sha1

from .pkey import PKey
from .ssh_exception import SSHException

__all__ = ["HostKeys", "HostKeyEntry", "InvalidHostKey"]


class InvalidHostKey(Exception):
    def __init__(self, line, exc):
        super().__init__(line, exc)
        self.line = line
        self.exc = exc


class HostKeyEntry:
    """One known_hosts line: host names (or hashes) and a key."""

    def __init__(self, hostnames=None, key=None, marker=None):
        self.valid = hostnames is not None and key is not None
        self.hostnames = hostnames
        self.key = key
        self.marker = marker

    @classmethod
    def from_line(cls, line, lineno=None):
        """Parses a line; None for comments, blank lines and key types amiko does not know."""
        line = line.strip()
        if not line or line.startswith("#"):
            return None
        marker = None
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            line = line.strip()
        fields = line.split()
        if len(fields) < 3:
            return None
        names, keytype, key = fields[0], fields[1], fields[2]
        try:
            pkey = PKey.from_type_string(keytype, base64.b64decode(key))
        except Exception:
            return None  # an unsupported type (ssh-dss, sk-*, certificates): skipped as Paramiko skips them
        return cls(names.split(","), pkey, marker)

    def to_line(self):
        if not self.valid:
            return None
        prefix = self.marker + " " if self.marker else ""
        return "{}{} {} {}\n".format(prefix, ",".join(self.hostnames), self.key.get_name(), self.key.get_base64())

    def __repr__(self):
        return "<HostKeyEntry {!r}: {!r}>".format(self.hostnames, self.key)


class _SubDict(MutableMapping):
    """The keys of one host, by type; setting a type updates the entries."""

    def __init__(self, hostname, entries, hostkeys):
        self._hostname = hostname
        self._entries = entries
        self._hostkeys = hostkeys

    def __iter__(self):
        for e in self._entries:
            yield e.key.get_name()

    def __len__(self):
        return len(self._entries)

    def __delitem__(self, key):
        for e in list(self._entries):
            if e.key.get_name() == key:
                self._entries.remove(e)
                self._hostkeys._entries.remove(e)
                return
        raise KeyError(key)

    def __getitem__(self, key):
        for e in self._entries:
            if e.key.get_name() == key:
                return e.key
        raise KeyError(key)

    def __setitem__(self, key, val):
        for e in self._entries:
            if e.key is None or e.key.get_name() == key:
                e.key = val
                return
        e = HostKeyEntry([self._hostname], val)
        self._entries.append(e)
        self._hostkeys._entries.append(e)

    def keys(self):
        return [e.key.get_name() for e in self._entries]


class HostKeys(MutableMapping):
    """Known host keys, loaded from and saved to OpenSSH known_hosts files (hashed names included)."""

    def __init__(self, filename=None):
        self._entries = []
        if filename is not None:
            self.load(filename)

    def add(self, hostname, keytype, key):
        for e in self._entries:
            if hostname in e.hostnames and e.key.get_name() == keytype and not e.marker:
                e.key = key
                return
        self._entries.append(HostKeyEntry([hostname], key))

    def load(self, filename):
        """Adds the entries of a known_hosts file (IOError if it cannot be read)."""
        with open(os.path.expanduser(filename), "r") as f:
            for lineno, line in enumerate(f, 1):
                e = HostKeyEntry.from_line(line, lineno)
                if e is None:
                    continue
                if e.marker is None:
                    for h in e.hostnames:
                        if self.check(h, e.key):
                            e.hostnames.remove(h)
                    if not e.hostnames:
                        continue
                self._entries.append(e)

    def save(self, filename):
        with open(os.path.expanduser(filename), "w") as f:
            for e in self._entries:
                line = e.to_line()
                if line:
                    f.write(line)

    def _matches(self, entry, hostname):
        for h in entry.hostnames:
            if h == hostname or (h.startswith("|1|") and hmac.compare_digest(self.hash_host(hostname, h), h)):
                return True
        return False

    def lookup(self, hostname):
        """The keys known for ``hostname`` as a dict-like {type: key}, or None."""
        entries = [e for e in self._entries if e.marker is None and self._matches(e, hostname)]
        if not entries:
            return None
        return _SubDict(hostname, entries, self)

    def is_revoked(self, hostname, key):
        """Whether a ``@revoked`` line lists this key (for any host)."""
        return any(e.marker == "@revoked" and e.key == key for e in self._entries)

    def check(self, hostname, key):
        """Whether ``key`` is a known key of ``hostname``."""
        k = self.lookup(hostname)
        if k is None:
            return False
        try:
            return k[key.get_name()] == key
        except KeyError:
            return False

    def clear(self):
        self._entries = []

    def __iter__(self):
        seen = []
        for e in self._entries:
            for h in e.hostnames:
                if h not in seen and e.marker is None:
                    seen.append(h)
                    yield h

    def __len__(self):
        return len(list(iter(self)))

    def __getitem__(self, key):
        ret = self.lookup(key)
        if ret is None:
            raise KeyError(key)
        return ret

    def __delitem__(self, key):
        index = None
        for i, e in enumerate(self._entries):
            if self._matches(e, key):
                index = i
                break
        if index is None:
            raise KeyError(key)
        self._entries.pop(index)

    def __setitem__(self, hostname, entry):
        if len(entry) == 0:
            self._entries.append(HostKeyEntry([hostname], None))
            return
        for key_type in entry.keys():
            self.add(hostname, key_type, entry[key_type])

    def keys(self):
        return list(iter(self))

    def values(self):
        return [self.lookup(k) for k in self.keys()]

    @staticmethod
    def hash_host(hostname, salt=None):
        """The ``|1|salt|hash`` form of a host name (HMAC-SHA1, as OpenSSH's HashKnownHosts)."""
        if salt is None:
            salt = os.urandom(sha1().digest_size)
        else:
            if salt.startswith("|1|"):
                salt = salt.split("|")[2]
            salt = base64.b64decode(salt)
        if len(salt) != sha1().digest_size:
            raise SSHException("bad known_hosts salt length")
        digest = hmac.new(salt, hostname.encode(), sha1).digest()
        return "|1|{}|{}".format(base64.b64encode(salt).decode(), base64.b64encode(digest).decode())
