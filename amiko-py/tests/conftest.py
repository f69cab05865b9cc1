"""pytest fixtures: real peers on loopback (see peers.py). Under AMIKO_REQUIRE_PEERS=1 a missing peer fails."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402


def _start(factory):
    try:
        return factory()
    except RuntimeError as e:
        if os.environ.get("AMIKO_REQUIRE_PEERS") == "1":
            raise
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def sshd():
    s = _start(peers.Sshd)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def amiko_serve():
    s = _start(peers.AmikoServe)
    yield s
    s.stop()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh $HOME, so ~/.ssh is the test's own."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """A cargo-style summary line, which .ci/run adds to its totals."""
    stats = terminalreporter.stats
    passed = len(stats.get("passed", []))
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    skipped = len(stats.get("skipped", []))
    verdict = "ok" if failed == 0 else "FAILED"
    terminalreporter.write_line("test result: {}. {} passed; {} failed; {} ignored; 0 measured; 0 filtered out "
                                "(pytest, amiko-py)".format(verdict, passed, failed, skipped))
