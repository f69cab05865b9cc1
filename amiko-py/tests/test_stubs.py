"""The type stubs (.pyi) match the installed module (mypy's stubtest) and type-check Paramiko-style code."""

import subprocess
import sys
import textwrap

import pytest

MODULES = ["amiko._native", "amiko.client", "amiko.channel", "amiko.transport"]


def _mypy():
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.skip("mypy is not installed (scripts/install-deps installs it)")


def test_stubs_match_the_runtime():
    _mypy()
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest"] + MODULES, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_stubs_type_check_user_code(tmp_path):
    _mypy()
    good = tmp_path / "good.py"
    good.write_text(textwrap.dedent("""
        import amiko
        c = amiko.SSHClient()
        c.set_missing_host_key_policy(amiko.AutoAddPolicy())
        c.connect("h", username="u", password="p", timeout=3.0)
        stdin, stdout, stderr = c.exec_command("ls")
        code: int = stdout.channel.recv_exit_status()
        t = amiko.Transport(("h", 22))
        allowed: list = t.auth_none("u")
    """))
    bad = tmp_path / "bad.py"
    bad.write_text("import amiko\nc = amiko.SSHClient()\nc.connect(22)\nx: str = c.get_transport()\n")
    ok = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", str(good)], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stdout
    wrong = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", str(bad)], capture_output=True,
                           text=True)
    # Both mistakes are caught: an int host name, and Optional[Transport] assigned to str.
    assert wrong.returncode == 1 and wrong.stdout.count("error:") == 2, wrong.stdout
