"""Keys with Paramiko's classes: ``PKey`` and ``RSAKey``, ``ECDSAKey``, ``Ed25519Key``."""

import base64
import hashlib
import os

from . import _native
from .ssh_exception import PasswordRequiredException, SSHException

__all__ = ["PKey", "RSAKey", "ECDSAKey", "Ed25519Key", "PublicBlob"]

_ALGORITHM_NAMES = {"ssh-rsa": "RSA", "ssh-ed25519": "ED25519"}


def _read_text(filename=None, file_obj=None, data=None):
    if filename is not None:
        with open(os.path.expanduser(filename), "r") as f:
            return f.read()
    if file_obj is not None:
        text = file_obj.read()
        return text.decode() if isinstance(text, bytes) else text
    if data is not None:
        return data.decode() if isinstance(data, bytes) else data
    return None


class PKey:
    """A public key, or a key pair when the private half was loaded. Compare keys with ``==``."""

    # The key types a subclass accepts (None: any).
    _types = None

    def __init__(self, msg=None, data=None, filename=None, password=None, file_obj=None, _native_private=None,
                 _native_public=None):
        self._private = _native_private
        self._public = _native_public
        if msg is not None and data is None:
            data = msg.asbytes() if hasattr(msg, "asbytes") else bytes(msg)
            self._public = _native.PublicKey.from_blob(data)
        elif data is not None and filename is None and file_obj is None and self._public is None:
            # Paramiko's PKey(data=blob) is a public key blob.
            if isinstance(data, (bytes, bytearray)) and not data.lstrip().startswith(b"-----"):
                self._public = _native.PublicKey.from_blob(bytes(data))
                data = None
        if self._public is None and self._private is None:
            text = _read_text(filename, file_obj, data)
            if text is not None:
                self._load_private(text, password)
        if self._private is not None and self._public is None:
            self._public = self._private.public_key()
        if self._public is not None and self._types is not None and self._public.key_type() not in self._types:
            raise SSHException("Invalid key: {} is not a {}".format(self._public.key_type(), type(self).__name__))

    def _load_private(self, text, password):
        if isinstance(password, bytes):
            password = password.decode()
        if _native.PrivateKey.is_encrypted(text) and not password:
            raise PasswordRequiredException("Private key file is encrypted")
        self._private = _native.PrivateKey.from_text(text, password)

    # ---- constructors ----
    @classmethod
    def from_private_key_file(cls, filename, password=None):
        """Loads a private key file (OpenSSH or PEM format)."""
        return cls(filename=filename, password=password)

    @classmethod
    def from_private_key(cls, file_obj, password=None):
        """Loads a private key from a file object."""
        return cls(file_obj=file_obj, password=password)

    @staticmethod
    def from_path(path, passphrase=None):
        """Loads a key file of any supported type, picking the class from its contents."""
        key = PKey(filename=str(path), password=passphrase)
        return _typed(key._private, None)

    @staticmethod
    def from_type_string(key_type, key_bytes):
        """A public key from its type name and wire blob."""
        pub = _native.PublicKey.from_blob(bytes(key_bytes))
        if pub.key_type() != key_type and not (key_type.startswith("rsa-sha2") and pub.key_type() == "ssh-rsa"):
            raise SSHException("key type {} does not match the blob ({})".format(key_type, pub.key_type()))
        return _typed(None, pub)

    # ---- what Paramiko code asks of a key ----
    def get_name(self):
        """The key type: ``ssh-ed25519``, ``ecdsa-sha2-nistp256``, ``ssh-rsa``..."""
        return self._public.key_type()

    @property
    def algorithm_name(self):
        name = self.get_name()
        return _ALGORITHM_NAMES.get(name, "ECDSA" if name.startswith("ecdsa") else name.upper())

    def get_bits(self):
        name = self.get_name()
        if name == "ssh-ed25519":
            return 256
        if name.startswith("ecdsa-sha2-nistp"):
            return int(name[len("ecdsa-sha2-nistp"):])
        # RSA: the modulus length from the blob (string type, mpint e, mpint n).
        blob = self.asbytes()
        pos = 0
        fields = []
        for _ in range(3):
            n = int.from_bytes(blob[pos:pos + 4], "big")
            fields.append(blob[pos + 4:pos + 4 + n])
            pos += 4 + n
        return int.from_bytes(fields[2], "big").bit_length()

    def asbytes(self):
        """The public key's wire blob."""
        return self._public.blob()

    def __bytes__(self):
        return self.asbytes()

    def get_base64(self):
        return base64.b64encode(self.asbytes()).decode()

    def get_fingerprint(self):
        """The MD5 digest of the blob (Paramiko's legacy fingerprint)."""
        return hashlib.md5(self.asbytes()).digest()

    @property
    def fingerprint(self):
        """``SHA256:...``, as ``ssh-keygen -l`` prints it."""
        return self._public.fingerprint()

    def can_sign(self):
        return self._private is not None

    def sign_ssh_data(self, data, algorithm=None):
        """Signs ``data``; returns the SSH signature blob."""
        if self._private is None:
            raise SSHException("this is a public key: it cannot sign")
        return self._private.sign(bytes(data), algorithm)

    def verify_ssh_sig(self, data, msg):
        """Whether ``msg`` (a signature blob, or an object with ``asbytes()``) signs ``data``."""
        sig = msg.asbytes() if hasattr(msg, "asbytes") else bytes(msg)
        return self._public.verify(bytes(data), sig)

    def write_private_key_file(self, filename, password=None):
        """Writes the private key in OpenSSH format, mode 0600. Encrypting with a password is not supported yet."""
        with open(filename, "w", opener=lambda p, f: os.open(p, f, 0o600)) as f:
            self.write_private_key(f, password)

    def write_private_key(self, file_obj, password=None):
        if self._private is None:
            raise SSHException("this is a public key: there is no private half to write")
        if password:
            raise SSHException("writing encrypted private keys is not supported; write it unencrypted")
        file_obj.write(self._private.to_openssh_text())

    def __eq__(self, other):
        return isinstance(other, PKey) and self.asbytes() == other.asbytes()

    def __hash__(self):
        return hash(self.asbytes())

    def __repr__(self):
        return "{}(alg={}, bits={}, fp={})".format(
            type(self).__name__, self.algorithm_name, self.get_bits(), self.fingerprint)

    def _native_private(self):
        if self._private is None:
            raise SSHException("a public key cannot be used to log in")
        return self._private


class RSAKey(PKey):
    """An RSA key."""

    _types = ("ssh-rsa",)

    @staticmethod
    def generate(bits=3072, progress_func=None):
        return RSAKey(_native_private=_native.PrivateKey.generate("rsa", bits))


class ECDSAKey(PKey):
    """An ECDSA key on P-256, P-384 or P-521."""

    _types = ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")

    @staticmethod
    def generate(curve=None, progress_func=None, bits=None):
        return ECDSAKey(_native_private=_native.PrivateKey.generate("ecdsa", bits or 256))


class Ed25519Key(PKey):
    """An Ed25519 key."""

    _types = ("ssh-ed25519",)

    @staticmethod
    def generate():
        return Ed25519Key(_native_private=_native.PrivateKey.generate("ed25519"))


def _typed(private, public):
    """The PKey subclass matching the key's type."""
    pub = public if public is not None else private.public_key()
    name = pub.key_type()
    cls = RSAKey if name == "ssh-rsa" else Ed25519Key if name == "ssh-ed25519" else ECDSAKey
    return cls(_native_private=private, _native_public=pub)


class PublicBlob:
    """A public key's type and blob, as Paramiko's ``PublicBlob``."""

    def __init__(self, type_, blob, comment=None):
        self.key_type = type_
        self.key_blob = blob
        self.comment = comment

    @classmethod
    def from_string(cls, string):
        fields = string.split(None, 2)
        return cls(fields[0], base64.b64decode(fields[1]), fields[2] if len(fields) > 2 else None)

    @classmethod
    def from_file(cls, filename):
        with open(filename) as f:
            return cls.from_string(f.read())

    def __str__(self):
        return "{} public key/certificate".format(self.key_type)
