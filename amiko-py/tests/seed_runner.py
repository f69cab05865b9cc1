"""Runs the seed tutorial's Python code, block by block, as a reader would type it into the REPL.

The code is taken from the tutorial text itself (tests/data/seed-tutorial.md), from "Módulos e variáveis" on.
What the reader supplies is supplied: the user name ($USER), the password typed at getpass, the host in place of
the '<host>' placeholder, and the module (`import paramiko` becomes `import amiko as paramiko` when testing amiko).
Every output the tutorial shows is checked:

- placeholders such as <host> and <usuário> stand for the host name and the user; others (<Prompt>, <arquivo>,
  banner lines) for any text;
- Python 2 output strings are compared with the bytes that Python 3 returns, decoded;
- readiness probes (recv_ready() and friends) are given up to 10 s to reach the value shown, and a recv() that
  shows output runs after a pause, as a person at the keyboard would have paused;
- the bracketed-paste switches that bash 5.1 and later write to a terminal (ESC[?2004h, ESC[?2004l and the
  carriage return after the latter) are removed before comparing: the tutorial was written with an older bash;
- statements on the interactive shell are typed at a person's pace (0.3 s apart), since what the terminal echoes
  depends on it (type-ahead is not echoed while the shell's line editor has the terminal);
- channel numbers (get_id) are checked to be integers: their values depend on the channels opened before;
- a Traceback in the text means the statement must raise that exception with that message.
"""

import ast
import getpass
import os
import re
import socket
import time

SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "seed-tutorial.md")
START = "### Módulos e variáveis"
END = "## Transferência de arquivos"


class Step:
    def __init__(self, code):
        self.code = code
        self.expected = None  # a literal the REPL showed
        self.raises = None  # (exception name, message)

    def __repr__(self):
        return "Step({!r}, expected={!r}, raises={!r})".format(self.code, self.expected, self.raises)


SSHCLIENT_ANCHOR = '<a name="conexão-sshclient"></a>'


def blocks(text):
    """The tutorial's python blocks (dedented), in order, between START and END. The shell section's step "Crie
    um canal" links back to the SSHClient connection section: its blocks are replayed there, as the reader would."""
    text = text[text.index(START):text.index(END)]
    anchor = text.index(SSHCLIENT_ANCHOR)
    connect_section = text[anchor:text.index("###", anchor)]
    text = text.replace("    shell = canal.invoke_shell()", "    REPLAY\n    shell = canal.invoke_shell()")
    out = []
    for m in re.finditer(r"^([ \t]*)```python\n(.*?)^[ \t]*```", text, re.S | re.M):
        indent = len(m.group(1))
        lines = [line[indent:] if line[:indent].strip() == "" else line for line in m.group(2).splitlines()]
        if lines and lines[0].strip() == "REPLAY":
            out.extend(blocks_of(connect_section))
            lines = lines[1:]
        out.append(lines)
    return out


def blocks_of(section):
    return [m.group(1).splitlines() for m in re.finditer(r"^```python\n(.*?)^```", section, re.S | re.M)]


def _is_literal(line):
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return False
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return False
    try:
        ast.literal_eval(tree.body[0].value)
        return True
    except ValueError:
        return False


def steps(lines):
    out = []
    in_traceback = False
    for raw in lines:
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.startswith(">>> "):
            line = line[4:]
        elif line.startswith("... "):
            out[-1].code += "\n" + line[4:]
            continue
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
            continue
        if in_traceback:
            m = re.match(r"^([\w.]+): (.*)$", line)
            if m and not line.startswith(" "):
                out[-1].raises = (m.group(1).rsplit(".", 1)[-1], m.group(2))
                in_traceback = False
            continue
        if out and out[-1].expected is None and _is_literal(line):
            out[-1].expected = ast.literal_eval(line.split(" #")[0].strip() if "' #" in line else line.strip())
            continue
        out.append(Step(line))
    return out


def _pattern(expected, host, user):
    parts = re.split(r"(<[^>]+>(?:\r\n|\n)?|\.\.\.)", expected)
    regex = ""
    for p in parts:
        if p.startswith("<host>"):
            regex += re.escape(host) + re.escape(p[len("<host>"):])
        elif p.startswith("<usuário>"):
            regex += re.escape(user) + re.escape(p[len("<usuário>"):])
        elif p.startswith("<") or p == "...":
            regex += ".*?"
        else:
            regex += re.escape(p)
    return re.compile(regex, re.S)


BRACKETED_PASTE = re.compile(r"\x1b\[\?2004(?:h|l\r?)")


def _matches(value, expected, host, user):
    if isinstance(value, bytes):
        value = BRACKETED_PASTE.sub("", value.decode("utf-8", "replace"))
    if isinstance(expected, str) and isinstance(value, str):
        return _pattern(expected, host, user).fullmatch(value) is not None
    return value == expected


PROBES = ("recv_ready()", "recv_stderr_ready()", "exit_status_ready()")


def run(module_import, host, user, password, log=print):
    """Runs every step; raises AssertionError at the first difference from the tutorial."""
    with open(SEED, encoding="utf-8") as f:
        text = f.read()
    os.environ["USER"] = user
    saved_getpass = getpass.getpass
    getpass.getpass = lambda prompt="": password
    server_name = socket.gethostname()
    ns = {}
    try:
        for block in blocks(text):
            for step in steps(block):
                code = step.code
                if code.strip() == "import paramiko":
                    code = module_import
                code = code.replace("host = '<host>'", "host = {!r}".format(host))
                log(">>> " + code.replace("\n", "\n... "))
                if code.startswith("shell."):
                    time.sleep(0.3)
                if ".recv(" in code and step.expected is not None:
                    time.sleep(0.5)
                if step.raises is not None:
                    try:
                        exec(compile(code, "<seed>", "exec"), ns)
                    except Exception as e:  # the tutorial shows this exception
                        assert type(e).__name__ == step.raises[0], "{}: raised {!r}, tutorial shows {}".format(
                            code, e, step.raises)
                        assert str(e) == step.raises[1], "{}: message {!r}, tutorial shows {!r}".format(
                            code, str(e), step.raises[1])
                        log("{}: {}".format(type(e).__name__, e))
                        continue
                    raise AssertionError("{}: did not raise {}".format(code, step.raises))
                if step.expected is None:
                    exec(compile(code, "<seed>", "exec"), ns)
                    continue
                expr = compile(code, "<seed>", "eval")
                deadline = time.time() + (10 if any(p in code for p in PROBES) else 0)
                while True:
                    value = eval(expr, ns)
                    if "get_id()" in code:
                        ok = isinstance(value, int)
                    else:
                        ok = _matches(value, step.expected, server_name, user)
                    if ok or time.time() >= deadline:
                        break
                    time.sleep(0.05)
                log(repr(value))
                assert ok, "{}: got {!r}, the tutorial shows {!r}".format(code, value, step.expected)
    finally:
        getpass.getpass = saved_getpass
    return ns
