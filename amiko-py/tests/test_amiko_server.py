"""The Python module against amiko's own server (`amiko serve`): exec, keyboard-interactive and SFTP."""

import amiko
import pytest


def transport(srv):
    t = amiko.Transport(("127.0.0.1", srv.port))
    t.start_client()
    return t


def test_exec_against_amiko_serve(amiko_serve):
    c = amiko.SSHClient()
    c.set_missing_host_key_policy(amiko.AutoAddPolicy())
    c.connect("127.0.0.1", port=amiko_serve.port, username=amiko_serve.user, password=amiko_serve.password,
              look_for_keys=False)
    _, out, err = c.exec_command("echo hi; echo there >&2; exit 4")
    assert out.read() == b"hi\n" and err.read() == b"there\n"
    assert out.channel.recv_exit_status() == 4
    c.close()


def test_auth_interactive_handler_gets_prompts(amiko_serve):
    t = transport(amiko_serve)
    calls = []

    def handler(title, instructions, prompt_list):
        calls.append(prompt_list)
        return [amiko_serve.password for _ in prompt_list]

    assert t.auth_interactive(amiko_serve.user, handler) == []
    assert calls and calls[0][0][0].lower().startswith("password")
    assert calls[0][0][1] is False  # the password prompt does not echo
    t.close()


def test_interactive_wrong_answer_fails(amiko_serve):
    t = transport(amiko_serve)
    with pytest.raises(amiko.AuthenticationException):
        t.auth_interactive(amiko_serve.user, lambda title, inst, prompts: ["wrong"] * len(prompts))
    t.close()


def test_handler_exception_propagates(amiko_serve):
    t = transport(amiko_serve)

    def handler(title, instructions, prompt_list):
        raise KeyError("no answer")

    with pytest.raises(KeyError):
        t.auth_interactive(amiko_serve.user, handler)
    t.close()


def test_sftp_against_amiko_serve(amiko_serve, tmp_path):
    t = amiko.Transport(("127.0.0.1", amiko_serve.port))
    t.connect(username=amiko_serve.user, password=amiko_serve.password)
    s = amiko.SFTPClient.from_transport(t)
    src = tmp_path / "up.txt"
    src.write_bytes(b"via amiko serve\n" * 1000)
    s.put(str(src), "/up.txt")
    assert s.listdir("/") == ["up.txt"]
    dst = tmp_path / "down.txt"
    s.get("/up.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    s.remove("/up.txt")
    t.close()
