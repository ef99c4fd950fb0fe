"""Command line, preconditions, and the output files of bench/compare."""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import sys
import time

from . import peers as peers_mod
from . import report_html, report_text
from .procs import Error, Registry, run_bounded
from .runner import Runner, log
from .scenarios import all_scenarios
from .tls import make_certificate

USAGE_EPILOG = """\
Scenarios (in run order): %s.
The proxy under test runs on --proxy-core, the upstream (rampart-upstream --threads 1) and the
load generator (rampart-bench -t 1) on --load-core; on machines with more cores the layout stays
the same. See docs/benchmarks.md.
"""


class Context:
    """Everything a run needs, filled in by main()."""


def parse_duration(text):
    t = text.strip().lower()
    try:
        if t.endswith("ms"):
            return float(t[:-2]) / 1000
        if t.endswith("s"):
            return float(t[:-1])
        if t.endswith("m"):
            return float(t[:-1]) * 60
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError("not a duration: %r (e.g. 10s, 500ms)" % text)


def parse_args(argv):
    ids = [s.id for s in all_scenarios()]
    p = argparse.ArgumentParser(
        prog="bench/compare",
        description="Rampart side by side with nginx, HAProxy, Caddy and h2o, one worker each, "
                    "on the same upstream, measured by the same client (rampart-bench).",
        epilog=USAGE_EPILOG % ", ".join(ids), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="2 s per run, 1 repetition, 0.5 s warm-up (CI smoke test)")
    p.add_argument("--reps", type=int, help="repetitions per scenario and peer (default 3)")
    p.add_argument("--duration", type=parse_duration, help="measured time per run (default 10s)")
    p.add_argument("--warmup", type=parse_duration, help="unmeasured warm-up before each run (default 1s)")
    p.add_argument("--peers", help="comma list of %s (default: rampart, nginx, haproxy, and caddy "
                   "and h2o when installed)" % ", ".join(peers_mod.BY_NAME))
    p.add_argument("--scenarios", help="comma list (default: all)")
    p.add_argument("--out", help="output directory (default bench/results/<timestamp>)")
    p.add_argument("--build-dir", help="build tree with proxy/rampart and bench/ (default build)")
    p.add_argument("--bench-bin", help="rampart-bench (default <build-dir>/bench/rampart-bench)")
    p.add_argument("--proxy-core", type=int, default=0, help="core for the proxy (default 0)")
    p.add_argument("--load-core", type=int, default=1,
                   help="core for the upstream and the load generator (default 1)")
    p.add_argument("--rate", type=int, help="openloop rate in req/s (default: 70%% of nginx's "
                   "keepalive median; 10000 in quick mode)")
    p.add_argument("--wrk-check", dest="wrk_check", action="store_true", default=None,
                   help="also run wrk once per peer on keepalive and h2load on h2 (default on, off with --quick)")
    p.add_argument("--no-wrk-check", dest="wrk_check", action="store_false")
    p.add_argument("--no-install", action="store_true",
                   help="never run scripts/install-deps.sh --bench for missing peers")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be at least 1")
    if args.duration is not None and args.duration <= 0:
        p.error("--duration must be positive")
    if args.warmup is not None and args.warmup < 0:
        p.error("--warmup must not be negative")
    if args.rate is not None and args.rate < 1:
        p.error("--rate must be at least 1")
    args.scenario_ids = ids
    if args.scenarios:
        wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
        bad = [s for s in wanted if s not in ids]
        if bad:
            p.error("unknown scenario(s) %s; known: %s" % (", ".join(bad), ", ".join(ids)))
        args.scenario_ids = [i for i in ids if i in wanted]
    if args.peers:
        wanted = [s.strip() for s in args.peers.split(",") if s.strip()]
        bad = [s for s in wanted if s not in peers_mod.BY_NAME]
        if bad:
            p.error("unknown peer(s) %s; known: %s" % (", ".join(bad), ", ".join(peers_mod.BY_NAME)))
        args.peer_names = [n for n in peers_mod.BY_NAME if n in wanted]
        args.peers_explicit = True
    else:
        args.peer_names = None
        args.peers_explicit = False
    return args


def select_peers(args, root, build_dir):
    """Peer objects for the run, installing missing Debian packages when allowed."""
    if args.peer_names is None:
        names = [c.name for c in peers_mod.ALL
                 if c.required or c.locate(build_dir) is not None]
    else:
        names = args.peer_names
    classes = [peers_mod.BY_NAME[n] for n in names]
    missing = [c for c in classes if c.locate(build_dir) is None and c.name != "rampart"]
    if missing:
        names_missing = ", ".join(c.name for c in missing)
        if args.no_install:
            raise Error("not installed: %s (run scripts/install-deps.sh --bench)" % names_missing)
        log("not installed: %s; running scripts/install-deps.sh --bench" % names_missing)
        rc, out, err = run_bounded(["bash", os.path.join(root, "scripts", "install-deps.sh"),
                                    "--bench"], timeout_s=1200)
        if rc != 0:
            raise Error("scripts/install-deps.sh --bench failed: %s" % (err + out).strip()[-600:])
    out = []
    for c in classes:
        binary = c.locate(build_dir)
        if binary is None:
            if c.name == "rampart":
                raise Error("%s/proxy/rampart not found; build it: cmake --build %s --target rampart"
                            % (build_dir, build_dir))
            raise Error("%s still not found after installing" % c.name)
        out.append(c(binary))
    return out


def machine_info(root, usable_cores):
    info = {"kernel": platform.release(), "python": platform.python_version(),
            "cores_online": os.cpu_count(), "cores_usable": usable_cores}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_kb"] = int(f.readline().split()[1])
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    gov = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    if os.path.exists(gov):
        with open(gov) as f:
            info["governor"] = f.read().strip()
    try:
        rc, out, _ = run_bounded(["git", "-C", root, "rev-parse", "--short", "HEAD"], timeout_s=10)
        if rc == 0:
            info["git_commit"] = out.strip()
    except Error:
        pass
    return info


def _terminate(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv):
    args = parse_args(argv)
    scenarios = [s for s in all_scenarios() if s.id in args.scenario_ids]
    if args.list:
        for s in all_scenarios():
            print("%-17s %s. %s" % (s.id, s.title, s.description))
        return 0
    # bench/compare_lib/cli.py -> the repository root
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    build_dir = os.path.abspath(args.build_dir or os.path.join(root, "build"))

    ctx = Context()
    ctx.root = root
    ctx.peers_dir = os.path.join(root, "bench", "peers")
    ctx.quick = args.quick
    ctx.reps = args.reps or (1 if args.quick else 3)
    ctx.duration = args.duration or (2.0 if args.quick else 10.0)
    ctx.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    ctx.wrk_check = args.wrk_check if args.wrk_check is not None else not args.quick
    ctx.rate_override = args.rate
    ctx.openloop_rate = None
    ctx.openloop_basis = None
    ctx.proxy_core, ctx.load_core = args.proxy_core, args.load_core
    ctx.tls_info = {}
    ctx.upstream_bin = os.path.join(build_dir, "bench", "rampart-upstream")
    ctx.bench_bin = os.path.abspath(args.bench_bin) if args.bench_bin else \
        os.path.join(build_dir, "bench", "rampart-bench")
    ctx.registry = Registry()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        return _run(ctx, args, scenarios, build_dir)
    except Error as e:
        print("compare: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("compare: interrupted; stopping what this run started", file=sys.stderr)
        return 130
    finally:
        ctx.registry.stop_all()


def _run(ctx, args, scenarios, build_dir):
    usable = os.sched_getaffinity(0)
    if ctx.proxy_core == ctx.load_core or not {ctx.proxy_core, ctx.load_core} <= usable:
        raise Error("needs two different usable cores for --proxy-core (%d) and --load-core (%d); "
                    "usable here: %s" % (ctx.proxy_core, ctx.load_core, sorted(usable)))
    for tool in ("taskset", "curl", "openssl") + (("wrk", "h2load") if ctx.wrk_check else ()):
        if shutil.which(tool) is None:
            raise Error("'%s' not found; run scripts/install-deps.sh --bench" % tool)
    for path, target in ((ctx.upstream_bin, "rampart-upstream"), (ctx.bench_bin, "rampart-bench")):
        if not os.access(path, os.X_OK):
            raise Error("%s not found; build it: cmake --build %s --target %s"
                        % (path, build_dir, target))
    peers = select_peers(args, ctx.root, build_dir)
    if "keepalive" not in [s.id for s in scenarios] and args.wrk_check:
        log("--wrk-check applies to the keepalive scenario only, which is not selected")

    # Idle connections need file descriptors here and in the proxies (children inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    # This script (idle client, /proc sampling) stays off the proxy's core.
    os.sched_setaffinity(0, {ctx.load_core})

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    ctx.out_dir = os.path.abspath(args.out or os.path.join(ctx.root, "bench", "results", stamp))
    ctx.run_dir = os.path.join(ctx.out_dir, "run")
    os.makedirs(ctx.run_dir, exist_ok=True)
    for d in (ctx.out_dir, ctx.run_dir):
        os.chmod(d, 0o755)
    ctx.cert = make_certificate(os.path.join(ctx.run_dir, "tls"))

    log("peers: %s; scenarios: %s; output in %s" % (
        ", ".join(p.name for p in peers), ", ".join(s.id for s in scenarios), ctx.out_dir))
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    results = Runner(ctx).run(scenarios, peers)

    doc = {
        "schema": 1,
        "tool": "bench/compare",
        "command": ["bench/compare"] + list(sys.argv[1:]),
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - t0, 1),
        "machine": machine_info(ctx.root, len(usable)),
        "settings": {"quick": ctx.quick, "reps": ctx.reps, "duration_s": ctx.duration,
                     "warmup_s": ctx.warmup, "proxy_core": ctx.proxy_core,
                     "load_core": ctx.load_core, "upstream": "rampart-upstream --threads 1",
                     "load_generator": "rampart-bench -t 1", "wrk_check": ctx.wrk_check},
        "peers": {p.name: {"binary": p.binary, "version": p.version(),
                           "tls": ctx.tls_info.get(p.name)} for p in peers},
        "scenarios": [],
    }
    for s in scenarios:
        entry = s.to_json()
        entry.update(results[s.id])
        doc["scenarios"].append(entry)

    json_path = os.path.join(ctx.out_dir, "results.json")
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
    lines = report_text.render(doc)
    with open(os.path.join(ctx.out_dir, "report.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    html_path = os.path.join(ctx.out_dir, "report.html")
    with open(html_path, "w") as f:
        f.write(report_html.render(doc))
    print("\n".join(lines))
    print("\nJSON: %s\nHTML: %s" % (json_path, html_path))
    failed = [(s["id"], n) for s in doc["scenarios"] for n, r in s["peers"].items()
              if r["status"] == "failed"]
    if failed:
        log("%d scenario/peer cell(s) failed: %s" % (len(failed), ", ".join("%s/%s" % f for f in failed)))
        return 1
    return 0
