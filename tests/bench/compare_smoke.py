#!/usr/bin/env python3
"""CI smoke test of bench/compare: the side-by-side harness works end to end.

Runs `bench/compare --quick` with Rampart and nginx on keepalive, newconn, gzip and brotli, and
checks that results.json holds real figures for both proxies (requests completed, latency, CPU
per request, memory, no errors), that both really compressed (the verification decoded the
body), that nginx's brotli cell is n/a with its reason rather than missing, and that the text
and HTML reports were written. Numbers are not judged: the machine
may be busy; only that they exist and are consistent.

    tests/bench/compare_smoke.py --build-dir BUILD [--keep]

Needs nginx (scripts/install-deps.sh installs it), curl, openssl and taskset, two cores, and
BUILD/proxy/rampart, BUILD/bench/rampart-upstream and BUILD/bench/rampart-bench.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = ["keepalive", "newconn", "gzip", "brotli"]
PEERS = ["rampart", "nginx"]


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def positive(d, key, where):
    v = d.get(key)
    check(isinstance(v, (int, float)) and v > 0, "%s: %s should be a positive number, is %r" % (where, key, v))
    return v


def check_results(doc):
    check(doc.get("settings", {}).get("quick") is True, "settings.quick should be true")
    check(set(doc.get("peers", {})) == set(PEERS), "peers should be %s, are %s" % (PEERS, list(doc.get("peers", {}))))
    for name in PEERS:
        check(doc["peers"][name].get("version"), "%s has no version" % name)
    by_id = {s["id"]: s for s in doc.get("scenarios", [])}
    check(list(by_id) == SCENARIOS, "scenarios should be %s, are %s" % (SCENARIOS, list(by_id)))
    for sid in SCENARIOS:
        sc = by_id[sid]
        for name in PEERS:
            r = sc["peers"].get(name)
            where = "%s/%s" % (sid, name)
            check(r is not None, "%s missing" % where)
            if sid == "brotli" and name == "nginx":
                check(r["status"] == "n/a", "%s should be n/a, is %s" % (where, r["status"]))
                check("brotli" in (r.get("reason") or ""), "%s n/a without its reason: %r" % (where, r.get("reason")))
                check(not r["runs"], "%s is n/a but has runs" % where)
                continue
            check(r["status"] == "ok", "%s: %s (%s)" % (where, r["status"], r.get("reason")))
            check(len(r["runs"]) == 1, "%s: expected 1 run in quick mode, got %d" % (where, len(r["runs"])))
            run = r["runs"][0]
            requests = positive(run, "requests", where)
            check(requests >= 100, "%s: only %d requests in 2 s" % (where, requests))
            positive(run, "rps", where)
            p50 = positive(run, "p50_us", where)
            p99 = positive(run, "p99_us", where)
            check(p99 >= p50, "%s: p99 %.1f below p50 %.1f" % (where, p99, p50))
            positive(run, "cpu_us_per_req", where)
            positive(run, "peak_rss_kb", where)
            check(run.get("errors") == 0, "%s: %r errors (%s)" % (where, run.get("errors"), run.get("error_detail")))
            med = r["summary"]["median"]
            check(med["rps"] == run["rps"], "%s: median of one run differs from it" % where)
            if sid == "brotli":
                continue  # nginx has no brotli: no ratio to it
            ratio = r.get("ratio_to_nginx") or {}
            positive(ratio, "rps", where + " ratio_to_nginx")
            if name == "nginx":
                check(abs(ratio["rps"] - 1.0) < 1e-9, "%s: nginx's ratio to itself is %r" % (where, ratio["rps"]))
            if sid == "newconn":
                check(run.get("connections_opened", 0) >= requests * 0.9,
                      "%s: %s connections for %d requests: not one per request"
                      % (where, run.get("connections_opened"), requests))
        if sid in ("gzip", "brotli"):
            for name in PEERS:
                if sid == "brotli" and name == "nginx":
                    continue
                facts = sc["peers"][name].get("verify", {})
                check(facts.get("decoded_bytes") == 20480 and 0 < facts.get("encoded_bytes", 0) < 20480,
                      "%s/%s: verification did not see a compressed 20480-byte body: %r" % (sid, name, facts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the output directory")
    args = ap.parse_args()
    out = tempfile.mkdtemp(prefix="compare-smoke.")
    argv = [sys.executable, os.path.join(ROOT, "bench", "compare"), "--quick", "--no-install",
            "--peers", ",".join(PEERS), "--scenarios", ",".join(SCENARIOS),
            "--build-dir", os.path.abspath(args.build_dir), "--out", out]
    print("compare_smoke: " + " ".join(argv), flush=True)
    ok = False
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
        text = proc.stdout.decode(errors="replace")
        print(text, flush=True)
        check(proc.returncode == 0, "bench/compare exited %d" % proc.returncode)
        with open(os.path.join(out, "results.json")) as f:
            doc = json.load(f)
        check_results(doc)
        with open(os.path.join(out, "report.html")) as f:
            page = f.read()
        check(page.count("<svg") >= 3 and all(p in page for p in PEERS) and "n/a" in page,
              "report.html lacks its charts or a peer")
        check(os.path.getsize(os.path.join(out, "report.txt")) > 0, "report.txt is empty")
        for name in PEERS:
            check(name in text, "terminal table lacks %s" % name)
        ok = True
        print("compare_smoke: OK")
        return 0
    except subprocess.TimeoutExpired:
        print("compare_smoke: FAIL: bench/compare did not finish within 180 s", flush=True)
        return 1
    except (Failure, OSError, ValueError, KeyError) as e:
        print("compare_smoke: FAIL: %s (output kept in %s)" % (e, out), flush=True)
        return 1
    finally:
        if ok and not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
