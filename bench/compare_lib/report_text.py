"""The terminal table."""


def fmt_value(v, key):
    if v is None:
        return "-"
    if key.endswith("_us"):
        return fmt_latency(v)
    if key == "rps":
        return "{:,.0f}".format(v)
    if key in ("mib_per_s", "kb_per_conn"):
        return "{:,.1f}".format(v)
    return "{:,.2f}".format(v)


def fmt_latency(us):
    if us is None:
        return "-"
    if us < 1000:
        return "%.0fus" % us
    if us < 1e6:
        return "%.2fms" % (us / 1e3)
    return "%.2fs" % (us / 1e6)


def fmt_ratio(r):
    return "-" if r is None else "%.2f" % r


def fmt_kb(kb):
    if kb is None:
        return "-"
    return "%.1fM" % (kb / 1024.0)


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for row in [header] + rows:
        cells = [str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
                 for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return lines


def render(doc):
    """The whole report as text lines: one block per scenario, then a legend."""
    lines = []
    s = doc["settings"]
    lines.append("bench/compare: %s; %d rep(s) of %s s, warm-up %s s; proxy on core %d, upstream "
                 "and load on core %d" % ("quick" if s["quick"] else "full", s["reps"],
                                          _num(s["duration_s"]), _num(s["warmup_s"]),
                                          s["proxy_core"], s["load_core"]))
    for sc in doc["scenarios"]:
        lines.append("")
        lines.extend(_scenario_block(sc))
    lines.append("")
    lines.append("Medians over the repetitions; min-max is the spread of the headline figure; "
                 "xnginx = median / nginx's median in this run (higher is better for req/s and "
                 "MiB/s, lower for latency, CPU and memory; openloop's headline is p99 latency at "
                 "the fixed rate). CPU us/req: user+sys time of the proxy's whole process tree "
                 "during the measured run / requests completed.")
    return lines


def _scenario_block(sc):
    key = sc["value_key"]
    title = "%s - %s (%s)" % (sc["id"], sc["title"], sc["unit"])
    if sc.get("rate"):
        title += ", at %d req/s (%s)" % (sc["rate"], sc["rate_basis"])
    idle = sc["kind"] == "idle"
    tool = {"keepalive": "wrk", "h2": "h2load"}.get(sc["id"])
    wrk = tool is not None and any(tool in p for p in sc["peers"].values())
    if idle:
        header = ["peer", sc["unit"], "min-max", "xnginx", "RSS before", "RSS after"]
    else:
        header = ["peer", sc["unit"], "min-max", "xnginx"] + (["req/s"] if key != "rps" else []) + \
            ["p50", "p99", "p99.9", "CPU us/req", "xnginx", "peak RSS", "errors"] + \
            (["%s req/s" % tool] if wrk else [])
    rows, notes = [], []
    for name, r in sc["peers"].items():
        if r["status"] != "ok":
            label = "n/a" if r["status"] == "n/a" else "FAILED"
            notes.append("%-8s %s: %s" % (name, label, r["reason"]))
            continue
        med, lo, hi = r["summary"]["median"], r["summary"]["min"], r["summary"]["max"]
        ratio = r["ratio_to_nginx"] or {}
        row = [name, fmt_value(med.get(key), key),
               "%s-%s" % (fmt_value(lo.get(key), key), fmt_value(hi.get(key), key)),
               fmt_ratio(ratio.get(key))]
        if idle:
            row += [fmt_kb(med.get("rss_before_kb")), fmt_kb(med.get("rss_after_kb"))]
        else:
            if key != "rps":
                row.append(fmt_value(med.get("rps"), "rps"))
            row += [fmt_latency(med.get("p50_us")), fmt_latency(med.get("p99_us")),
                    fmt_latency(med.get("p999_us")), fmt_value(med.get("cpu_us_per_req"), "cpu"),
                    fmt_ratio(ratio.get("cpu_us_per_req")), fmt_kb(med.get("peak_rss_kb")),
                    "%d" % med.get("errors", 0)]
            if wrk:
                w = r.get(tool) or {}
                row.append(fmt_value(w["rps"], "rps") if "rps" in w else "failed")
            note = rate_note(sc, med)
            if note:
                notes.append("%-8s %s" % (name, note))
        rows.append(row)
    out = [title]
    if rows:
        out.extend("  " + l for l in _table(header, rows))
    out.extend("  " + n for n in notes)
    return out


def rate_note(sc, median):
    """A remark on a peer's figures that changes how to read them, or None: an open-loop rate
    the peer did not keep up with, or a TLS resumption scenario where few sessions resumed."""
    rate = sc.get("rate")
    rps = median.get("rps")
    if rate and rps is not None and rps < 0.95 * rate:
        return "did not keep up: %s req/s of the %d asked (its latency includes the backlog)" % (
            fmt_value(rps, "rps"), rate)
    resumed = median.get("tls_resumed_pct")
    if sc["id"] == "tls_resumed" and resumed is not None and resumed < 90:
        return "only %.0f%% of the handshakes resumed a session (the rest were full)" % resumed
    return None


def _num(v):
    return ("%g" % v) if isinstance(v, float) else str(v)
