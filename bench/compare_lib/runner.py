"""The run: the upstream, then scenario by scenario every peer started fresh, verified and
measured in interleaved repetitions (A B C A B C ...)."""

import os
import re
import resource
import socket
import sys
import time

from . import idle, loadgen, stats, verify
from .peers import render
from .procs import Error, run_bounded, tree_rss_kb
from .report_text import fmt_latency, fmt_value
from .scenarios import IDLE_CONNECTIONS
from .tls import probe

OPENLOOP_SHARE = 0.7          # openloop rate: this share of nginx's keepalive median
OPENLOOP_FALLBACK = 10000     # req/s in quick mode, or when there is no nginx keepalive figure


def log(msg):
    print("compare: " + msg, file=sys.stderr, flush=True)


class Instance:
    """One started peer process with its ports."""

    def __init__(self, peer, child, peer_dir, http_port, tls_port):
        self.peer = peer
        self.child = child
        self.peer_dir = peer_dir
        self.http_port = http_port
        self.tls_port = tls_port

    @property
    def pid(self):
        return self.child.pid

    def url(self, scenario):
        port = self.tls_port if scenario.scheme == "https" else self.http_port
        return "%s://127.0.0.1:%d%s" % (scenario.scheme, port, scenario.path)


class Runner:
    def __init__(self, ctx):
        self.ctx = ctx
        self._used_ports = set()
        self._starts = 0

    # -- ports and processes --------------------------------------------------------------

    def free_port(self):
        """A TCP port on 127.0.0.1 that nothing listens on now (and not handed out before)."""
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in self._used_ports:
                self._used_ports.add(port)
                return port
        raise Error("no free port on 127.0.0.1")

    def start_upstream(self):
        ctx = self.ctx
        child = ctx.registry.start(
            "rampart-upstream", [ctx.upstream_bin, "--listen", "127.0.0.1:0", "--threads", "1",
                                 "--name", "bench"],
            ctx.run_dir, cpu=ctx.load_core)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(child.stdout_path, errors="replace") as f:
                m = re.search(r"^listening 127\.0\.0\.1:(\d+)$", f.read(), re.M)
            if m:
                ctx.upstream_port = int(m.group(1))
                ctx.upstream = child
                return
            if not child.alive():
                raise Error("rampart-upstream exited at start-up: " + child.log_tail())
            time.sleep(0.05)
        raise Error("rampart-upstream did not report its port within 10 s")

    def check_upstream(self):
        if not self.ctx.upstream.alive():
            raise Error("rampart-upstream died: " + self.ctx.upstream.log_tail())

    def start_peer(self, peer, tag):
        """Renders, tests and starts the peer; returns an Instance once its ports accept."""
        ctx = self.ctx
        self._starts += 1
        peer_dir = os.path.join(ctx.run_dir, peer.name)
        os.makedirs(peer_dir, exist_ok=True)
        os.chmod(peer_dir, 0o755)
        peer.prepare(peer_dir)
        http_port = self.free_port()
        tls_port = self.free_port() if peer.has_tls else None
        config = render(peer, ctx, peer_dir, http_port, tls_port or 0)
        check = peer.check_argv(config, peer_dir)
        if check:
            rc, out, err = run_bounded(check, timeout_s=30, env=peer.env(peer_dir))
            if rc != 0:
                raise Error("%s rejects its config %s: %s" % (peer.name, config, (err + out).strip()[-500:]))
        child = ctx.registry.start("%s-%s" % (peer.name, tag), peer.argv(config, peer_dir),
                                   peer_dir, cpu=ctx.proxy_core, env=peer.env(peer_dir),
                                   cwd=peer_dir)
        instance = Instance(peer, child, peer_dir, http_port, tls_port)
        ports = [p for p in (http_port, tls_port) if p]
        deadline = time.monotonic() + 15
        while ports:
            if not child.alive():
                ctx.registry.stop(child)
                raise Error("%s exited at start-up: %s" % (peer.name, child.log_tail()))
            if time.monotonic() > deadline:
                ctx.registry.stop(child)
                raise Error("%s did not accept on %s within 15 s" % (peer.name, ports))
            try:
                socket.create_connection(("127.0.0.1", ports[0]), timeout=1).close()
                ports.pop(0)
            except OSError:
                time.sleep(0.05)
        return instance

    def stop_peer(self, instance):
        self.ctx.registry.stop(instance.child)

    # -- one scenario ----------------------------------------------------------------------

    def prepare(self, instance, scenario, result):
        """Verifies the peer for the scenario; on TLS also records what it negotiated."""
        ctx = self.ctx
        result["verify"] = verify.verify(instance, scenario, instance.peer_dir, ctx.cert.cert)
        if scenario.scheme == "https" and instance.peer.name not in ctx.tls_info:
            ctx.tls_info[instance.peer.name] = probe(instance.tls_port, ctx.cert.cert)

    def bench_args(self, scenario):
        args = list(scenario.bench_args)
        if scenario.id == "openloop":
            args += ["-R", str(self.ctx.openloop_rate)]
        return args

    def run_load(self, scenario, peers, results):
        ctx = self.ctx
        instances = {}
        try:
            for peer in peers:
                r = results[peer.name]
                try:
                    instances[peer.name] = self.start_peer(peer, scenario.id)
                    self.prepare(instances[peer.name], scenario, r)
                    log("%s: %s verified (%s)" % (scenario.id, peer.name, r["verify"]["url"]))
                except Error as e:
                    self._fail(r, str(e), scenario, peer)
                    if peer.name in instances:
                        self.stop_peer(instances.pop(peer.name))
            args = self.bench_args(scenario)
            for rep in range(ctx.reps):
                for peer in peers:
                    inst = instances.get(peer.name)
                    r = results[peer.name]
                    if inst is None or r["status"] == "failed":
                        continue
                    self.check_upstream()
                    try:
                        run = loadgen.measured_run(ctx.bench_bin, inst.url(scenario), args,
                                                   ctx.duration, ctx.warmup, ctx.load_core, inst.pid)
                        if not inst.child.alive():
                            raise Error("%s exited during the run: %s" % (peer.name, inst.child.log_tail()))
                    except Error as e:
                        self._fail(r, "rep %d: %s" % (rep + 1, e), scenario, peer)
                        continue
                    run["rep"] = rep + 1
                    r["runs"].append(run)
                    log("%s rep %d/%d %-8s %s" % (scenario.id, rep + 1, ctx.reps, peer.name,
                                                  _run_line(scenario, run)))
            tool = loadgen.CROSS_CHECK.get(scenario.id)
            if tool and ctx.wrk_check:
                streams = 1
                if "-m" in scenario.bench_args:
                    streams = int(scenario.bench_args[scenario.bench_args.index("-m") + 1])
                for peer in peers:
                    inst = instances.get(peer.name)
                    r = results[peer.name]
                    if inst is None or r["status"] != "ok":
                        continue
                    try:
                        r[tool] = loadgen.run_cross_check(tool, inst.url(scenario), scenario.connections, streams,
                                                          ctx.duration, ctx.load_core)
                        log("%s %s cross-check %-8s %.0f req/s" % (scenario.id, tool, peer.name, r[tool]["rps"]))
                    except Error as e:
                        r[tool] = {"error": str(e)}
                        log("%s %s cross-check %s failed: %s" % (scenario.id, tool, peer.name, e))
        finally:
            for inst in instances.values():
                self.stop_peer(inst)

    def run_idle(self, scenario, peers, results):
        """Per repetition and peer: a fresh process, RSS before and after N idle connections."""
        ctx = self.ctx
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < IDLE_CONNECTIONS + 200:
            for peer in peers:
                self._fail(results[peer.name], "open-files limit %d is below the %d connections "
                           "needed (raise ulimit -n)" % (soft, IDLE_CONNECTIONS + 200), scenario, peer)
            return
        for rep in range(ctx.reps):
            for peer in peers:
                r = results[peer.name]
                if r["status"] == "failed":
                    continue
                self.check_upstream()
                inst = None
                socks = []
                try:
                    inst = self.start_peer(peer, "%s-%d" % (scenario.id, rep + 1))
                    self.prepare(inst, scenario, r)
                    time.sleep(0.5)
                    before = tree_rss_kb(inst.pid)
                    if scenario.scheme == "https":
                        socks = idle.open_idle(inst.tls_port, IDLE_CONNECTIONS, tls=True)
                    else:
                        socks = idle.open_idle(inst.http_port, IDLE_CONNECTIONS)
                    time.sleep(1.0)
                    after = tree_rss_kb(inst.pid)
                    closed = idle.count_closed(socks)
                    if closed:
                        raise Error("%s closed %d of the %d idle connections within a second"
                                    % (peer.name, closed, len(socks)))
                    if not inst.child.alive():
                        raise Error("%s exited while holding idle connections" % peer.name)
                    run = {"rep": rep + 1, "connections": len(socks), "rss_before_kb": before,
                           "rss_after_kb": after, "peak_rss_kb": after,
                           "kb_per_conn": (after - before) / len(socks), "errors": 0}
                    r["runs"].append(run)
                    log("%s rep %d/%d %-8s %s" % (scenario.id, rep + 1, ctx.reps, peer.name,
                                                  _run_line(scenario, run)))
                except Error as e:
                    self._fail(r, "rep %d: %s" % (rep + 1, e), scenario, peer)
                finally:
                    idle.close_all(socks)
                    if inst is not None:
                        self.stop_peer(inst)

    def _fail(self, result, message, scenario, peer):
        result["status"] = "failed"
        result["reason"] = message
        log("%s: %s FAILED: %s" % (scenario.id, peer.name, message))

    # -- the whole run ---------------------------------------------------------------------

    def run(self, scenarios, peers):
        """Returns {scenario id: {peer name: result}} with summaries and ratios to nginx."""
        ctx = self.ctx
        self.start_upstream()
        log("rampart-upstream on 127.0.0.1:%d (core %d)" % (ctx.upstream_port, ctx.load_core))
        all_results = {}
        for scenario in scenarios:
            results = {}
            runnable = []
            for peer in peers:
                reason = peer.unsupported_reason(scenario)
                results[peer.name] = {"status": "n/a" if reason else "ok", "reason": reason, "runs": []}
                if not reason:
                    runnable.append(peer)
            if scenario.id == "openloop":
                self.choose_rate(all_results)
                results_rate = {"rate": ctx.openloop_rate, "rate_basis": ctx.openloop_basis}
                log("openloop at %d req/s (%s)" % (ctx.openloop_rate, ctx.openloop_basis))
            else:
                results_rate = None
            started = time.monotonic()
            if scenario.kind == "idle":
                self.run_idle(scenario, runnable, results)
            else:
                self.run_load(scenario, runnable, results)
            for name, r in results.items():
                if r["status"] == "ok" and not r["runs"]:
                    r["status"] = "failed"
                    r["reason"] = r["reason"] or "no run completed"
                r["summary"] = stats.summarize(r["runs"]) if r["runs"] else None
            ref = results.get("nginx")
            for name, r in results.items():
                if r["summary"] and ref and ref["status"] == "ok" and ref["summary"]:
                    r["ratio_to_nginx"] = stats.ratios(r["summary"]["median"], ref["summary"]["median"])
                else:
                    r["ratio_to_nginx"] = None
            all_results[scenario.id] = {"peers": results, "elapsed_s": time.monotonic() - started}
            if results_rate:
                all_results[scenario.id].update(results_rate)
        return all_results

    def choose_rate(self, done):
        ctx = self.ctx
        if ctx.rate_override:
            ctx.openloop_rate, ctx.openloop_basis = ctx.rate_override, "--rate"
            return
        if ctx.quick:
            ctx.openloop_rate, ctx.openloop_basis = OPENLOOP_FALLBACK, "fixed in quick mode"
            return
        ng = done.get("keepalive", {}).get("peers", {}).get("nginx")
        if ng and ng["status"] == "ok" and ng["summary"]:
            ctx.openloop_rate = max(1, int(round(ng["summary"]["median"]["rps"] * OPENLOOP_SHARE)))
            ctx.openloop_basis = "%d%% of nginx's keepalive median" % round(OPENLOOP_SHARE * 100)
        else:
            ctx.openloop_rate = OPENLOOP_FALLBACK
            ctx.openloop_basis = "fixed: no nginx keepalive figure in this run"


def _run_line(scenario, run):
    if scenario.kind == "idle":
        return "%.1f KiB/conn (RSS %d -> %d KiB)" % (run["kb_per_conn"], run["rss_before_kb"], run["rss_after_kb"])
    return "%s %s  p50 %s  p99 %s  cpu %.1f us/req  rss %d KiB  errors %d" % (
        fmt_value(run[scenario.value_key], scenario.value_key), scenario.unit,
        fmt_latency(run["p50_us"]), fmt_latency(run["p99_us"]),
        run["cpu_us_per_req"] or 0, run["peak_rss_kb"], run["errors"])
