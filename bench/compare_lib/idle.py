"""Idle keep-alive connections held open by this script (rampart-bench cannot hold them)."""

import socket
import ssl
import time

from .procs import Error
from .verify import UPSTREAM_MARK

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench-compare-idle\r\n\r\n"


def _one_response(sock):
    """Reads one Content-Length framed response; returns (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise Error("connection closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise Error("response without Content-Length (status %d)" % status)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise Error("connection closed in the response body")
        body += chunk
    return status, body


def open_idle(port, count, deadline_s=120.0, tls=False):
    """Opens `count` connections to 127.0.0.1:port (TLS ones when `tls`: the bench's own
    self-signed certificate, so no verification), one GET each, and returns them idle.

    On any failure closes what it opened and raises Error."""
    socks = []
    end = time.monotonic() + deadline_s
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        for i in range(count):
            if time.monotonic() > end:
                raise Error("opened only %d of %d connections in %.0f s" % (i, count, deadline_s))
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                s = context.wrap_socket(s, server_hostname="localhost")
            socks.append(s)
            s.sendall(REQUEST)
            status, body = _one_response(s)
            if status != 200 or UPSTREAM_MARK not in body:
                raise Error("idle connection %d: status %d, body %r" % (i, status, body[:60]))
        # Every connection must still be open: a peer that closed some would look cheaper.
        return socks
    except (OSError, ValueError, IndexError, ssl.SSLError) as e:
        close_all(socks)
        raise Error("idle connection %d of %d failed: %s" % (len(socks), count, e)) from e
    except BaseException:
        close_all(socks)
        raise


def count_closed(socks):
    """How many of the sockets the peer has closed meanwhile (readable EOF, non-blocking peek)."""
    closed = 0
    for s in socks:
        # Peek at the TCP stream itself (a TLS socket does not peek): EOF or an error is a close.
        raw = socket.fromfd(s.fileno(), socket.AF_INET, socket.SOCK_STREAM)
        raw.setblocking(False)
        try:
            if raw.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        finally:
            raw.close()
    return closed


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
