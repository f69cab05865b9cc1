"""SFTPClient and SFTPFile against OpenSSH's sftp-server (internal-sftp)."""

import os
import stat

import amiko
import pytest


@pytest.fixture
def sftp(sshd):
    c = amiko.SSHClient()
    c.load_host_keys(sshd.known_hosts)
    c.connect("127.0.0.1", port=sshd.port, username=sshd.user, password=sshd.password, look_for_keys=False)
    s = c.open_sftp()
    home = s.normalize(".")
    base = home + "/pytest-sftp-{}".format(os.getpid())
    try:
        _rmtree(s, base)
    except IOError:
        pass
    s.mkdir(base)
    s.chdir(base)
    yield s
    s.chdir(None)
    _rmtree(s, base)
    c.close()


def _rmtree(s, path):
    for a in s.listdir_attr(path):
        p = path + "/" + a.filename
        if stat.S_ISDIR(a.st_mode):
            _rmtree(s, p)
        else:
            s.remove(p)
    s.rmdir(path)


def test_put_get_roundtrip_with_callbacks(sftp, tmp_path):
    src = tmp_path / "src.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    progress = []
    attrs = sftp.put(str(src), "remote.bin", callback=lambda done, total: progress.append((done, total)))
    assert isinstance(attrs, amiko.SFTPAttributes) and attrs.st_size == len(data)
    assert progress and progress[-1] == (len(data), len(data))
    dst = tmp_path / "dst.bin"
    got = []
    sftp.get("remote.bin", str(dst), callback=lambda d, t: got.append(d))
    assert dst.read_bytes() == data
    assert got[-1] == len(data)


def test_listdir_stat_chmod_rename_remove(sftp):
    with sftp.open("a.txt", "w") as f:
        f.write("hello\n")
    sftp.mkdir("sub", 0o750)
    assert sorted(sftp.listdir()) == ["a.txt", "sub"]
    attrs = {a.filename: a for a in sftp.listdir_attr(".")}
    assert attrs["a.txt"].st_size == 6 and stat.S_ISREG(attrs["a.txt"].st_mode)
    assert stat.S_ISDIR(attrs["sub"].st_mode)
    assert "a.txt" in str(attrs["a.txt"]) and str(attrs["a.txt"]).startswith("-rw")
    sftp.chmod("a.txt", 0o600)
    assert stat.S_IMODE(sftp.stat("a.txt").st_mode) == 0o600
    sftp.utime("a.txt", (1000000000, 1000000000))
    assert sftp.stat("a.txt").st_mtime == 1000000000
    sftp.truncate("a.txt", 2)
    assert sftp.stat("a.txt").st_size == 2
    sftp.rename("a.txt", "b.txt")
    sftp.posix_rename("b.txt", "c.txt")
    assert "c.txt" in sftp.listdir()
    sftp.symlink("c.txt", "link")
    assert sftp.readlink("link") == "c.txt"
    assert stat.S_ISLNK(sftp.lstat("link").st_mode)
    sftp.unlink("link")
    sftp.remove("c.txt")
    sftp.rmdir("sub")
    assert sftp.listdir() == []


def test_missing_file_is_file_not_found(sftp):
    with pytest.raises(FileNotFoundError):
        sftp.stat("no-such-file")
    with pytest.raises(IOError):
        sftp.open("no-such-file", "r")
    with pytest.raises(IOError):
        sftp.chdir("no-such-dir")


def test_file_read_write_seek_lines(sftp):
    with sftp.open("lines.txt", "w") as f:
        f.write(b"one\ntwo\n")
        f.write("three\n")
    with sftp.open("lines.txt", "r") as f:
        assert f.readline() == "one\n"
        assert f.read(3) == b"two"
        f.seek(0)
        assert f.readlines() == ["one\n", "two\n", "three\n"]
        f.seek(-6, 2)
        assert f.read() == b"three\n"
        assert f.tell() == 14
        assert f.stat().st_size == 14
    with sftp.open("lines.txt", "rb") as f:
        assert list(f) == [b"one\n", b"two\n", b"three\n"]
    with sftp.open("lines.txt", "a") as f:
        f.write("four\n")
    assert sftp.stat("lines.txt").st_size == 19


def test_large_file_reads_whole_in_pieces_and_after_seeks(sftp):
    # Reads above 1 MiB go straight into the bytes object returned, growing it as they go, while READs stay in
    # flight ahead: every byte in order, whole or in odd-sized pieces, and after seeks.
    data = os.urandom(20 * 1024 * 1024 + 12345)
    with sftp.open("big.bin", "wb") as f:
        f.write(data)
    with sftp.open("big.bin", "rb") as f:
        assert f.read() == data
        f.seek(0)
        parts = []
        while True:
            p = f.read(3000001)
            if not p:
                break
            parts.append(p)
        assert b"".join(parts) == data
        f.seek(7000000)
        assert f.read(2000000) == data[7000000:9000000]
        f.seek(1000)
        assert f.read(10) == data[1000:1010]
        assert f.read(50 * 1024 * 1024) == data[1010:]
        assert f.read() == b""


def test_getfo_putfo(sftp):
    import io
    data = os.urandom(2 * 1024 * 1024 + 5)
    calls = []
    attrs = sftp.putfo(io.BytesIO(data), "fo.bin", file_size=len(data), callback=lambda d, t: calls.append(d))
    assert attrs.st_size == len(data) and calls[-1] == len(data)
    out = io.BytesIO()
    assert sftp.getfo("fo.bin", out) == len(data)
    assert out.getvalue() == data


def test_getcwd_and_normalize(sftp):
    cwd = sftp.getcwd()
    assert cwd.startswith("/") and cwd.endswith("pytest-sftp-{}".format(os.getpid()))
    sftp.mkdir("d")
    sftp.chdir("d")
    assert sftp.getcwd() == cwd + "/d"
    assert sftp.normalize("..") == cwd
    sftp.chdir("..")
    sftp.rmdir("d")
