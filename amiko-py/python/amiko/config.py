"""Paramiko's ``SSHConfig``: reads OpenSSH client configuration (``~/.ssh/config``)."""

import fnmatch
import getpass
import os
import re
import shlex
import socket

from .ssh_exception import ConfigParseError

__all__ = ["SSHConfig", "SSHConfigDict"]

SSH_PORT = 22

# Options that may be given many times; their values accumulate.
_LISTS = {"identityfile", "localforward", "remoteforward", "dynamicforward", "certificatefile", "sendenv"}
# Options whose values get %-tokens expanded, and which tokens.
_TOKENS = {
    "controlpath": "%CdhLlnpru",
    "hostname": "%h",
    "identityfile": "%dhlpru~",
    "proxycommand": "%hnpr~",
    "proxyjump": "%hpr",
    "match-exec": "%dhLlnpru",
}


class SSHConfigDict(dict):
    """A lookup result: a dict with ``as_bool`` and ``as_int``."""

    def as_bool(self, key):
        val = self[key]
        if isinstance(val, bool):
            return val
        return val.lower() == "yes"

    def as_int(self, key):
        return int(self[key])


class SSHConfig:
    """Host and Match blocks of an ssh_config file; ``lookup(host)`` gives the options that apply, first value
    winning, as ssh does."""

    SETTINGS_REGEX = re.compile(r"(\w+)(?:\s*=\s*|\s+)(.+)")

    def __init__(self):
        self._config = []

    @classmethod
    def from_text(cls, text):
        import io
        return cls.from_file(io.StringIO(text))

    @classmethod
    def from_path(cls, path):
        with open(path) as flo:
            return cls.from_file(flo)

    @classmethod
    def from_file(cls, flo):
        obj = cls()
        obj.parse(flo)
        return obj

    def parse(self, file_obj):
        context = {"host": ["*"], "config": {}}
        for line in file_obj:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = re.match(self.SETTINGS_REGEX, line)
            if not match:
                raise ConfigParseError("Unparsable line {}".format(line))
            key = match.group(1).lower()
            value = match.group(2)
            if key in ("host", "match"):
                self._config.append(context)
                context = {"config": {}}
                if key == "host":
                    context["host"] = self._get_hosts(value)
                else:
                    context["matches"] = self._get_matches(value)
            elif key == "proxycommand" and value.lower() == "none":
                context["config"][key] = None
            else:
                if value.startswith('"') and value.endswith('"'):
                    value = value[1:-1]
                if key in _LISTS:
                    context["config"].setdefault(key, []).append(value)
                elif key not in context["config"]:
                    context["config"][key] = value
        self._config.append(context)

    def lookup(self, hostname):
        """The options for ``hostname``; ``hostname`` in the result is the real host to connect to."""
        options = self._lookup(hostname=hostname)
        if "hostname" not in options:
            options["hostname"] = hostname
        return self._expand_variables(options, hostname)

    def _lookup(self, hostname, options=None, final=False):
        if options is None:
            options = SSHConfigDict()
        for context in self._config:
            if not (self._pattern_matches(context.get("host", []), hostname) or
                    self._does_match(context.get("matches", []), hostname, options, final)):
                continue
            for key, value in context["config"].items():
                if key not in options:
                    options[key] = value[:] if value is not None and key in _LISTS else value
                elif key in _LISTS:
                    options[key].extend(x for x in value if x not in options[key])
        return options

    def get_hostnames(self):
        hosts = set()
        for entry in self._config:
            hosts.update(entry.get("host", []))
        return hosts

    def _pattern_matches(self, patterns, target):
        if hasattr(patterns, "split"):
            patterns = patterns.split(",")
        match = False
        for pattern in patterns:
            if pattern.startswith("!") and fnmatch.fnmatch(target, pattern[1:]):
                return False
            elif fnmatch.fnmatch(target, pattern):
                match = True
        return match

    def _does_match(self, match_list, target_hostname, options, final):
        if not match_list:
            return False
        local_username = getpass.getuser()
        for candidate in match_list:
            type_, param, negate = candidate["type"], candidate.get("param"), candidate.get("negate", False)
            if type_ == "all":
                ok = True
            elif type_ == "canonical":
                ok = False
            elif type_ == "final":
                ok = final
            elif type_ == "host":
                ok = self._pattern_matches(param, options.get("hostname", target_hostname))
            elif type_ == "originalhost":
                ok = self._pattern_matches(param, target_hostname)
            elif type_ == "user":
                ok = self._pattern_matches(param, options.get("user", local_username))
            elif type_ == "localuser":
                ok = self._pattern_matches(param, local_username)
            elif type_ == "exec":
                import subprocess
                cmd = self._tokenize(options, target_hostname, "match-exec", param)
                ok = subprocess.call(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0
            else:
                ok = False
            if ok == negate:
                return False
        return True

    def _get_hosts(self, host):
        try:
            return shlex.split(host)
        except ValueError:
            raise ConfigParseError("Unparsable host {}".format(host))

    def _get_matches(self, match):
        matches = []
        tokens = shlex.split(match)
        while tokens:
            match_ = {"type": None, "param": None, "negate": False}
            type_ = tokens.pop(0)
            if type_.startswith("!"):
                match_["negate"] = True
                type_ = type_[1:]
            match_["type"] = type_.lower()
            if match_["type"] in ("all", "canonical", "final"):
                matches.append(match_)
                continue
            if not tokens:
                raise ConfigParseError("Missing parameter to Match '{}' keyword".format(type_))
            match_["param"] = tokens.pop(0)
            matches.append(match_)
        return matches

    def _tokenize(self, config, target_hostname, key, value):
        # In HostName itself, %h is the name given on the command line.
        configured_hostname = target_hostname if key == "hostname" else config.get("hostname", target_hostname)
        user = config.get("user", getpass.getuser())
        port = config.get("port", SSH_PORT)
        local_user = getpass.getuser()
        fqdn = socket.getfqdn()
        home = os.path.expanduser("~")
        replacements = {
            "%d": home,
            "%h": configured_hostname,
            "%l": fqdn.split(".")[0],
            "%L": fqdn,
            "%n": target_hostname,
            "%p": str(port),
            "%r": user,
            "%u": local_user,
            "~": home,
        }
        allowed = _TOKENS.get(key)
        if not allowed or value is None:
            return value
        out = []
        i = 0
        while i < len(value):
            two = value[i:i + 2]
            if two == "%%":
                out.append("%")
                i += 2
            elif two in replacements and two[1] in allowed:
                out.append(replacements[two])
                i += 2
            elif value[i] == "~" and "~" in allowed and i == 0:
                out.append(home)
                i += 1
            else:
                out.append(value[i])
                i += 1
        return "".join(out)

    def _expand_variables(self, config, target_hostname):
        for k in config:
            if config[k] is None or k not in _TOKENS:
                continue
            if isinstance(config[k], list):
                config[k] = [self._tokenize(config, target_hostname, k, v) for v in config[k]]
            else:
                config[k] = self._tokenize(config, target_hostname, k, config[k])
        return config
