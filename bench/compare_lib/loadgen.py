"""Runs rampart-bench (and wrk for the cross-check) and measures the proxy around the run."""

import json
import re
import threading

from .procs import Error, run_bounded, tree_cpu_seconds, tree_rss_kb

REQUIRED_KEYS = ("requests", "rps", "mib_per_s", "latency_us", "status", "errors", "duration_s")
LATENCY_KEYS = ("p50", "p90", "p99", "p999", "max")


def duration_arg(seconds):
    return "%dms" % max(0, round(seconds * 1000))


class RssSampler(threading.Thread):
    """Samples the VmRSS of a process tree every `interval` seconds; .peak_kb is the maximum."""

    def __init__(self, root_pid, interval=0.1):
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.interval = interval
        self.peak_kb = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.root_pid))
            self._halt.wait(self.interval)

    def finish(self):
        self._halt.set()
        self.join(timeout=5)
        self.peak_kb = max(self.peak_kb, tree_rss_kb(self.root_pid))
        return self.peak_kb


def bench_argv(bench_bin, url, args, duration_s, warmup_s):
    return [bench_bin] + list(args) + ["-t", "1", "-d", duration_arg(duration_s),
                                       "-w", duration_arg(warmup_s), "--json", "-q", url]


def run_bench(bench_bin, url, args, duration_s, warmup_s, cpu):
    """One rampart-bench run; returns its parsed JSON (checked for the contract's keys)."""
    argv = bench_argv(bench_bin, url, args, duration_s, warmup_s)
    rc, out, err = run_bounded(argv, timeout_s=duration_s + warmup_s + 60, cpu=cpu)
    if rc != 0:
        raise Error("rampart-bench exit %d: %s" % (rc, (err or out).strip()[-400:]))
    try:
        result = json.loads(out)
    except ValueError as e:
        raise Error("rampart-bench printed no JSON: %s" % out.strip()[-300:]) from e
    missing = [k for k in REQUIRED_KEYS if k not in result]
    missing += ["latency_us." + k for k in LATENCY_KEYS if k not in result.get("latency_us", {})]
    if missing:
        raise Error("rampart-bench JSON lacks %s" % ", ".join(missing))
    result["argv"] = argv
    return result


def measured_run(bench_bin, url, args, duration_s, warmup_s, cpu, proxy_pid):
    """Warm-up (a separate run, unmeasured), then the measured run with the proxy's CPU time
    taken just before and after it and its RSS sampled during it.

    Returns the per-run record for the report."""
    if warmup_s > 0:
        run_bench(bench_bin, url, args, warmup_s, 0, cpu)
    sampler = RssSampler(proxy_pid)
    cpu_before = tree_cpu_seconds(proxy_pid)
    sampler.start()
    try:
        result = run_bench(bench_bin, url, args, duration_s, 0, cpu)
    finally:
        peak = sampler.finish()
    cpu_s = tree_cpu_seconds(proxy_pid) - cpu_before
    status = result["status"]
    errors = sum(result["errors"].values()) + sum(
        v for k, v in status.items() if k != "2xx")
    lat = result["latency_us"]
    requests = result["requests"]
    record = {
        "requests": requests,
        "rps": result["rps"],
        "mib_per_s": result["mib_per_s"],
        "p50_us": lat["p50"], "p90_us": lat["p90"], "p99_us": lat["p99"],
        "p999_us": lat["p999"], "max_us": lat["max"],
        "cpu_us_per_req": (cpu_s * 1e6 / requests) if requests else None,
        "proxy_cpu_s": cpu_s,
        "peak_rss_kb": peak,
        "errors": errors,
        "error_detail": dict(result["errors"], **{"status_" + k: v for k, v in status.items()}),
        "connections_opened": result.get("connections_opened"),
        "tls_handshakes": result.get("tls_handshakes"),
        "tls_resumed": result.get("tls_resumed"),
        "tls_resumed_pct": (100.0 * result["tls_resumed"] / result["tls_handshakes"])
        if result.get("tls_handshakes") else None,
        "protocol": result.get("protocol"),
        "mode": result.get("mode"),
        "rate": result.get("rate"),
        "argv": result["argv"],
    }
    if requests == 0:
        raise Error("no request completed (errors: %s)" % record["error_detail"])
    return record


# ---------------------------------------------------------------------------------------------
# Cross-checks of rampart-bench by the usual tools: wrk on keep-alive, h2load on HTTP/2.

# scenario id -> tool that measures the same target once per peer
CROSS_CHECK = {"keepalive": "wrk", "h2": "h2load"}


def run_cross_check(tool, url, connections, streams, duration_s, cpu):
    if tool == "wrk":
        return run_wrk(url, connections, duration_s, cpu)
    return run_h2load(url, connections, streams, duration_s, cpu)


def run_h2load(url, connections, streams, duration_s, cpu):
    """h2load -t1 -cN -mM -D seconds; returns {rps, errors}."""
    seconds = max(1, round(duration_s))
    argv = ["h2load", "-t1", "-c%d" % connections, "-m%d" % streams, "-D", "%d" % seconds, url]
    rc, out, err = run_bounded(argv, timeout_s=seconds + 30, cpu=cpu)
    if rc != 0:
        raise Error("h2load exit %d: %s" % (rc, (err or out).strip()[-300:]))
    m = re.search(r"finished in [0-9.]+\w*, ([0-9.]+) req/s", out)
    if not m:
        raise Error("cannot read h2load's output: %s" % out.strip()[-300:])
    record = {"rps": float(m.group(1)), "argv": argv}
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    record["errors"] = sum(int(g) for g in m.groups()) if m else None
    return record

def _wrk_time_us(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[m.group(2)]


def run_wrk(url, connections, duration_s, cpu):
    """wrk -t1 -cN for duration_s (whole seconds, at least 1); returns {rps, p50_us, p99_us}."""
    seconds = max(1, round(duration_s))
    argv = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--latency", url]
    rc, out, err = run_bounded(argv, timeout_s=seconds + 30, cpu=cpu)
    if rc != 0:
        raise Error("wrk exit %d: %s" % (rc, (err or out).strip()[-300:]))
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        raise Error("cannot read wrk's output: %s" % out.strip()[-300:])
    record = {"rps": float(m.group(1)), "argv": argv}
    for label, key in (("50%", "p50_us"), ("99%", "p99_us")):
        m = re.search(r"^\s+%s\s+(\S+)" % re.escape(label), out, re.M)
        record[key] = _wrk_time_us(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    record["errors"] = errors
    return record
