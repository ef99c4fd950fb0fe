"""The proxies compared: where each binary is, how its config is rendered and how it runs.

Configs come from bench/peers/<template>, with @NAME@ placeholders filled in; every generated
file (config, pid file, logs, temp paths) lives in the peer's own directory inside the run
directory. A peer that lacks a feature a scenario needs says why in `unsupported`.
"""

import os
import re
import shutil

from .procs import Error, run_bounded

EXTRA_PATH = ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/local/bin"]

NO_BROTLI = "no on-the-fly brotli in this build"


def find_system_binary(name):
    path = shutil.which(name)
    if path:
        return path
    return shutil.which(name, path=os.pathsep.join(EXTRA_PATH))


class Peer:
    name = ""
    template = ""
    config_name = ""
    required = False      # part of the default selection even when not installed yet
    has_tls = True        # a TLS listener (with HTTP/2 when "h2" is supported)
    unsupported = {}      # feature ("tls", "h2", "gzip", "brotli") -> why not

    def __init__(self, binary):
        self.binary = binary

    @classmethod
    def locate(cls, build_dir):
        return find_system_binary(cls.name)

    def unsupported_reason(self, scenario):
        for feature in sorted(scenario.needs):
            if feature in self.unsupported:
                return self.unsupported[feature]
        return None

    def version(self):
        try:
            rc, out, err = run_bounded(self.version_argv(), timeout_s=10)
        except Error:
            return "unknown"
        text = (out + "\n" + err).strip().splitlines()
        return text[0].strip() if text else "unknown"

    def version_argv(self):
        return [self.binary, "-v"]

    def placeholders(self, ctx):
        return {}

    def argv(self, config_path, peer_dir):
        raise NotImplementedError

    def check_argv(self, config_path, peer_dir):
        """A config test command, or None."""
        return None

    def env(self, peer_dir):
        return dict(os.environ)

    def prepare(self, peer_dir):
        """Directories the peer expects before it starts."""


class Rampart(Peer):
    name = "rampart"
    template = "rampart.yaml.template"
    config_name = "rampart.yaml"
    required = True
    unsupported = {}

    @classmethod
    def locate(cls, build_dir):
        path = os.path.join(build_dir, "proxy", "rampart")
        return path if os.access(path, os.X_OK) else None

    def version_argv(self):
        return [self.binary, "version"]

    def argv(self, config_path, peer_dir):
        return [self.binary, "-c", config_path]

    def check_argv(self, config_path, peer_dir):
        return [self.binary, "check", "-c", config_path]


class Nginx(Peer):
    name = "nginx"
    template = "nginx.conf.template"
    config_name = "nginx.conf"
    unsupported = {"brotli": NO_BROTLI}
    required = True

    def argv(self, config_path, peer_dir):
        return [self.binary, "-p", peer_dir, "-e", os.path.join(peer_dir, "nginx-error.log"),
                "-c", config_path]

    def check_argv(self, config_path, peer_dir):
        return self.argv(config_path, peer_dir) + ["-t", "-q"]

    def prepare(self, peer_dir):
        # Started as root, nginx runs its worker as "nobody", which must reach the temp paths.
        os.makedirs(os.path.join(peer_dir, "nginx-tmp"), exist_ok=True)
        os.chmod(os.path.join(peer_dir, "nginx-tmp"), 0o777)


class Haproxy(Peer):
    name = "haproxy"
    template = "haproxy.cfg.template"
    config_name = "haproxy.cfg"
    unsupported = {"brotli": NO_BROTLI}
    required = True

    def argv(self, config_path, peer_dir):
        return [self.binary, "-db", "-f", config_path]

    def check_argv(self, config_path, peer_dir):
        return [self.binary, "-c", "-q", "-f", config_path]


class Caddy(Peer):
    name = "caddy"
    template = "Caddyfile.template"
    config_name = "Caddyfile"
    unsupported = {"brotli": NO_BROTLI}

    def version_argv(self):
        return [self.binary, "version"]

    def argv(self, config_path, peer_dir):
        return [self.binary, "run", "--adapter", "caddyfile", "--config", config_path]

    def check_argv(self, config_path, peer_dir):
        return [self.binary, "validate", "--adapter", "caddyfile", "--config", config_path]

    def env(self, peer_dir):
        env = dict(os.environ)
        # One OS thread runs Go code; keep Caddy's state files out of the real home.
        env.update(GOMAXPROCS="1", HOME=peer_dir, XDG_CONFIG_HOME=peer_dir,
                   XDG_DATA_HOME=peer_dir)
        return env


class H2o(Peer):
    name = "h2o"
    template = "h2o.conf.template"
    config_name = "h2o.conf"

    def version_argv(self):
        return [self.binary, "--version"]

    def placeholders(self, ctx):
        # Started as root, h2o switches to "nobody" unless told otherwise, and then cannot write
        # its pid file in the run directory; as any other user it never switches.
        return {"H2O_USER": "user: root" if os.geteuid() == 0 else ""}

    def argv(self, config_path, peer_dir):
        return [self.binary, "-c", config_path]

    def check_argv(self, config_path, peer_dir):
        return [self.binary, "-t", "-c", config_path]


ALL = [Rampart, Nginx, Haproxy, Caddy, H2o]
BY_NAME = {p.name: p for p in ALL}


def render(peer, ctx, peer_dir, http_port, tls_port):
    """Writes the peer's config into peer_dir from its template; returns the path."""
    with open(os.path.join(ctx.peers_dir, peer.template)) as f:
        text = f.read()
    values = {"RUN_DIR": peer_dir, "HTTP_PORT": str(http_port), "TLS_PORT": str(tls_port),
              "UPSTREAM_PORT": str(ctx.upstream_port), "CERT": ctx.cert.cert,
              "KEY": ctx.cert.key, "CERT_KEY": ctx.cert.cert_key}
    values.update(peer.placeholders(ctx))
    text = re.sub(r"@([A-Z0-9_]+)@", lambda m: values.get(m.group(1), m.group(0)), text)
    left = sorted(set(re.findall(r"@[A-Z0-9_]+@", text)))
    if left:
        raise Error("%s: template %s has unknown placeholders %s"
                    % (peer.name, peer.template, ", ".join(left)))
    path = os.path.join(peer_dir, peer.config_name)
    with open(path, "w") as f:
        f.write(text)
    return path
