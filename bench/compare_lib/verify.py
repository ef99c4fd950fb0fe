"""Proof that a peer really proxies to rampart-upstream, before it is timed."""

import gzip
import subprocess
import os
import zlib

from .procs import Error, run_bounded

UPSTREAM_MARK = b"hello from rampart-upstream"
JSON_MARK = b'[{"id":1,'  # the start of rampart-upstream's ?json=N body


def run_bounded_bytes(argv, data, timeout_s):
    """Runs argv with `data` on stdin; returns (exit code, stdout bytes, stderr text)."""
    try:
        p = subprocess.run(argv, input=data, capture_output=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Error("%s failed: %s" % (argv[0], e))
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def fetch(url, out_dir, tag, cafile=None, h2=False, accept_encoding=None, timeout_s=10):
    """One request with curl; returns (status, http_version, headers dict (lower-case), body)."""
    body_path = os.path.join(out_dir, "verify-%s.body" % tag)
    head_path = os.path.join(out_dir, "verify-%s.head" % tag)
    argv = ["curl", "-sS", "--max-time", str(timeout_s), "-o", body_path, "-D", head_path,
            "-w", "%{http_code} %{http_version}"]
    if url.startswith("https:"):
        argv += ["--cacert", cafile, "--http2" if h2 else "--http1.1"]
    if accept_encoding:
        argv += ["-H", "Accept-Encoding: " + accept_encoding]
    argv.append(url)
    rc, out, err = run_bounded(argv, timeout_s=timeout_s + 5)
    if rc != 0:
        raise Error("request %s failed: curl exit %d: %s" % (url, rc, err.strip()[-300:]))
    status, version = (out.split() + ["0", "?"])[:2]
    headers = {}
    with open(head_path, "rb") as f:
        for line in f.read().decode(errors="replace").splitlines():
            if ":" in line and not line.startswith("HTTP/"):
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
    with open(body_path, "rb") as f:
        body = f.read()
    os.remove(body_path)  # up to 1 MiB each; the head file stays for the record
    return int(status), version, headers, body


def verify(instance, scenario, out_dir, cafile):
    """Checks one request of the scenario's kind through the peer; returns facts for the report.

    Raises Error with a message saying what was wrong."""
    port = instance.tls_port if scenario.scheme == "https" else instance.http_port
    url = "%s://127.0.0.1:%d%s" % (scenario.scheme, port, scenario.path)
    h2 = "h2" in scenario.needs
    accept = "gzip" if "gzip" in scenario.needs else "br" if "brotli" in scenario.needs else None
    status, version, headers, body = fetch(url, out_dir, "%s-%s" % (instance.peer.name, scenario.id),
                                           cafile=cafile, h2=h2, accept_encoding=accept)
    facts = {"url": url, "status": status, "http_version": version, "bytes": len(body)}
    if status != 200:
        raise Error("%s answered %d to %s, expected 200 from the upstream" % (instance.peer.name, status, url))
    if h2 and version != "2":
        raise Error("%s did not negotiate HTTP/2 on %s (got HTTP/%s)" % (instance.peer.name, url, version))
    if accept:
        encoding = headers.get("content-encoding", "")
        if encoding != accept:
            raise Error("%s did not %s-encode %s (Content-Encoding: %r)" % (instance.peer.name, accept, url, encoding))
        facts["encoded_bytes"] = len(body)
        if accept == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as e:
                raise Error("%s sent a gzip body that does not decompress: %s" % (instance.peer.name, e))
        else:
            rc, out, err = run_bounded_bytes(["brotli", "-dc"], body, timeout_s=10)
            if rc != 0:
                raise Error("%s sent a brotli body that does not decompress: %s" % (instance.peer.name, err[-200:]))
            body = out
        facts["decoded_bytes"] = len(body)
    mark = JSON_MARK if "json=" in scenario.path else UPSTREAM_MARK
    if mark not in body[:200]:
        raise Error("%s did not return the upstream's body from %s (got %r)"
                    % (instance.peer.name, url, body[:80]))
    expected = _expected_size(scenario.path)
    if expected is not None and len(body) != expected:
        raise Error("%s returned %d body bytes from %s, expected %d"
                    % (instance.peer.name, len(body), url, expected))
    return facts


def _expected_size(path):
    for key in ("size=", "json="):
        if key in path:
            return int(path.split(key, 1)[1].split("&", 1)[0])
    return None
