"""The scenarios: what is measured, with which rampart-bench options, and what a peer needs."""

SMALL_BODY_NOTE = "100 B body (rampart-upstream's default)"


class Scenario:
    """One row group of the report.

    kind "load": one rampart-bench run per repetition; kind "idle": idle connections held by
    this script, memory measured. needs: features a peer must have ("tls", "h2", "gzip", "brotli")."""

    def __init__(self, id, title, description, scheme, path, bench_args, needs=(), kind="load",
                 value_key="rps", unit="req/s", connections=None):
        self.id = id
        self.title = title
        self.description = description
        self.scheme = scheme
        self.path = path
        self.bench_args = bench_args      # list of str, without URL / duration / warm-up
        self.needs = frozenset(needs)
        self.kind = kind
        self.value_key = value_key        # the headline figure: rps, mib_per_s or kb_per_conn
        self.unit = unit
        self.connections = connections
        self.higher_is_better = value_key in ("rps", "mib_per_s")

    def to_json(self):
        return {"id": self.id, "title": self.title, "description": self.description,
                "scheme": self.scheme, "path": self.path, "bench_args": self.bench_args,
                "needs": sorted(self.needs), "kind": self.kind, "value_key": self.value_key,
                "unit": self.unit, "higher_is_better": self.higher_is_better}


IDLE_CONNECTIONS = 2000
GZIP_BODY = 20480
PASSTHROUGH_BODY = 1 << 20


def all_scenarios():
    """In run order: openloop comes after keepalive, whose nginx rate sets its rate."""
    return [
        Scenario("keepalive", "HTTP/1.1 keep-alive",
                 "64 keep-alive connections, closed loop, " + SMALL_BODY_NOTE + ".",
                 "http", "/", ["-c", "64"], connections=64),
        Scenario("newconn", "HTTP/1.1 new connection per request",
                 "16 connection slots, each request on a new TCP connection, " + SMALL_BODY_NOTE + ".",
                 "http", "/", ["-c", "16", "--new-conn"], connections=16),
        Scenario("https_keepalive", "HTTPS keep-alive",
                 "64 keep-alive TLS connections (HTTP/1.1 over TLS), " + SMALL_BODY_NOTE + ".",
                 "https", "/", ["-c", "64"], needs=["tls"], connections=64),
        Scenario("tls_resumed", "TLS new connection, resumed",
                 "16 slots, a new TLS connection per request resuming the slot's previous session "
                 "(abbreviated handshake).",
                 "https", "/", ["-c", "16", "--new-conn"], needs=["tls"], connections=16),
        Scenario("tls_full", "TLS new connection, full handshake",
                 "16 slots, a new TLS connection per request with a full ECDSA P-256 handshake "
                 "(no session reuse).",
                 "https", "/", ["-c", "16", "--new-conn", "--no-session-reuse"], needs=["tls"],
                 connections=16),
        Scenario("h2", "HTTP/2 over TLS",
                 "8 HTTP/2 connections (ALPN h2) with 8 concurrent streams each: 64 requests in "
                 "flight, like keepalive.",
                 "https", "/", ["-c", "8", "-m", "8", "--h2"], needs=["tls", "h2"], connections=8),
        Scenario("gzip", "gzip of a 20 KB response",
                 "64 keep-alive connections sending Accept-Encoding: gzip for a 20,480-byte "
                 "application/json body (user-like records), which the proxy compresses at level 6 "
                 "where the level is settable.",
                 "http", "/?json=%d" % GZIP_BODY, ["-c", "64", "--accept-encoding", "gzip"],
                 needs=["gzip"], connections=64),
        Scenario("brotli", "brotli of a 20 KB response",
                 "The gzip scenario with Accept-Encoding: br: brotli quality 4 on the fly, for the "
                 "peers that have it.",
                 "http", "/?json=%d" % GZIP_BODY, ["-c", "64", "--accept-encoding", "br"],
                 needs=["brotli"], connections=64),
        Scenario("passthrough_1mib", "1 MiB pass-through",
                 "8 keep-alive connections fetching a 1 MiB body; throughput in MiB/s.",
                 "http", "/?size=%d" % PASSTHROUGH_BODY, ["-c", "8"], value_key="mib_per_s",
                 unit="MiB/s", connections=8),
        Scenario("idle_memory", "Memory per idle keep-alive connection",
                 "%d keep-alive connections opened to a freshly started proxy, one request each, "
                 "then left idle; the proxy's process-tree RSS after minus before, per connection."
                 % IDLE_CONNECTIONS,
                 "http", "/", [], kind="idle", value_key="kb_per_conn", unit="KiB/conn",
                 connections=IDLE_CONNECTIONS),
        Scenario("idle_memory_tls", "Memory per idle TLS keep-alive connection",
                 "The idle_memory scenario over TLS: %d TLS keep-alive connections (TLS 1.3, one "
                 "request each), then left idle; RSS after minus before, per connection."
                 % IDLE_CONNECTIONS,
                 "https", "/", [], kind="idle", value_key="kb_per_conn", unit="KiB/conn",
                 needs=["tls"], connections=IDLE_CONNECTIONS),
        Scenario("openloop", "Open loop at a fixed rate",
                 "The keepalive workload at a constant request rate (70% of nginx's keepalive "
                 "median in this run; 10,000 req/s in quick mode), latency measured from each "
                 "request's scheduled send time: compare p99 and p99.9.",
                 "http", "/", ["-c", "64"], value_key="p99_us", unit="p99 latency",
                 connections=64),
    ]


def by_id():
    return {s.id: s for s in all_scenarios()}
