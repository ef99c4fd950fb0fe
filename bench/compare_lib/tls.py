"""The run's one TLS certificate, and a probe of what a peer negotiates."""

import os
import socket
import ssl

from .procs import Error, run_bounded


class Certificate:
    def __init__(self, cert, key, cert_key):
        self.cert = cert          # PEM certificate
        self.key = key            # PEM private key (ECDSA P-256)
        self.cert_key = cert_key  # both in one file (HAProxy's crt)


def make_certificate(directory):
    """A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, valid 30 days."""
    os.makedirs(directory, exist_ok=True)
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    rc, out, err = run_bounded(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], timeout_s=30)
    if rc != 0:
        raise Error("openssl could not make the certificate: " + (err or out).strip()[-500:])
    cert_key = os.path.join(directory, "cert-key.pem")
    with open(cert_key, "w") as f:
        for part in (cert, key):
            with open(part) as p:
                f.write(p.read())
    # Peers that drop privileges (nginx workers, h2o) read these before doing so; still,
    # keep the key readable only by us.
    os.chmod(key, 0o600)
    os.chmod(cert_key, 0o600)
    return Certificate(cert, key, cert_key)


def probe(port, cafile, timeout_s=5.0):
    """Handshakes with 127.0.0.1:port offering h2 and http/1.1.

    Returns {"protocol": "TLSv1.3", "cipher": ..., "alpn": "h2" or None}; raises Error."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return {"protocol": s.version(), "cipher": s.cipher()[0],
                        "alpn": s.selected_alpn_protocol()}
    except (OSError, ssl.SSLError) as e:
        raise Error("TLS handshake with 127.0.0.1:%d failed: %s" % (port, e)) from e
