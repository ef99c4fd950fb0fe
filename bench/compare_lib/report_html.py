"""The self-contained HTML report: tables and hand-written inline SVG charts, no scripts."""

import html
import math

from .report_text import rate_note

COLORS = {"rampart": "#c62828", "nginx": "#2e7d32", "haproxy": "#1565c0", "caddy": "#6a1b9a",
          "h2o": "#ef6c00"}
LATENCY_SHADES = (("p50_us", "p50", 1.0), ("p99_us", "p99", 0.65), ("p999_us", "p99.9", 0.35))


def esc(s):
    return html.escape(str(s), quote=True)


def _color(name):
    return COLORS.get(name, "#555555")


def _nice_step(span, target=5):
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _fmt_tick(v):
    if v >= 1e6:
        return "%gM" % (v / 1e6)
    if v >= 1e3:
        return "%gk" % (v / 1e3)
    return "%g" % round(v, 3)


def _fmt_us(us):
    if us >= 1e6:
        return "%gs" % round(us / 1e6, 2)
    if us >= 1e3:
        return "%gms" % round(us / 1e3, 2)
    return "%gus" % round(us, 1)


def grouped_bars(title, groups, series, cell, y_label, log_scale=False, reference=None,
                 tick_format=_fmt_tick, bar_w=16, group_gap=26, height=250, fill=None):
    """An SVG grouped bar chart.

    groups: category labels (x axis); series: [(label, colour)]; cell(group_index, series_index)
    returns None (no bar, nothing said), a string (shown as a short vertical note, e.g. "n/a"),
    or (value, low, high) with low/high the whisker ends (None for no whisker).
    reference: a value drawn as a dashed horizontal line (1.0 for ratios).
    series colours may be (colour, opacity); fill(group_index, series_index), when given,
    returns the (colour, opacity) of one bar instead of its series'."""
    left, right, top, bottom = 62, 12, 30, 58
    per_group = len(series) * bar_w
    legend_w = sum(18 + 7 * len(name) + 10 for name, _ in series)
    width = int(max(left + right + len(groups) * (per_group + group_gap),
                    left + 7.5 * len(title) + 10, left + legend_w + right))
    # Spread the groups over the width when the title or legend made it wider.
    group_gap = (width - left - right) / max(1, len(groups)) - per_group
    plot_h = height - top - bottom
    values = []
    for g in range(len(groups)):
        for s in range(len(series)):
            c = cell(g, s)
            if isinstance(c, tuple):
                values.extend(v for v in c if isinstance(v, (int, float)) and v > 0)
    if reference:
        values.append(reference)
    if not values:
        values = [1.0]
    if log_scale:
        # A decade floor well below the smallest bar, so that it still shows.
        lo_exp = math.floor(math.log10(min(values)) - 0.3)
        hi_exp = math.ceil(math.log10(max(values)))
        if hi_exp == lo_exp:
            hi_exp += 1
        ticks = [10 ** e for e in range(lo_exp, hi_exp + 1)]

        def y_of(v):
            v = max(v, 10 ** lo_exp)
            return top + plot_h * (1 - (math.log10(v) - lo_exp) / (hi_exp - lo_exp))
        base_y = top + plot_h
    else:
        vmax = max(values) * 1.08
        step = _nice_step(vmax)
        ymax = math.ceil(vmax / step) * step
        ticks = [i * step for i in range(int(round(ymax / step)) + 1)]

        def y_of(v):
            return top + plot_h * (1 - v / ymax)
        base_y = top + plot_h
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="11" role="img" aria-label="%s">'
           % (width, height, width, height, esc(title))]
    out.append('<rect width="100%" height="100%" fill="#ffffff"/>')
    out.append('<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>' % (left, esc(title)))
    for t in ticks:
        y = y_of(t)
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e0e0e0"/>' % (left, width - right, y, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end" fill="#444">%s</text>'
                   % (left - 5, y + 4, esc(tick_format(t))))
    out.append('<text transform="translate(14,%d) rotate(-90)" text-anchor="middle" fill="#444">%s</text>'
               % (top + plot_h // 2, esc(y_label)))
    out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#888"/>' % (left, width - right, base_y, base_y))
    for g, label in enumerate(groups):
        gx = left + group_gap / 2 + g * (per_group + group_gap)
        for s, (sname, colour) in enumerate(series):
            x = gx + s * bar_w
            c = cell(g, s)
            if c is None:
                continue
            if isinstance(c, str):
                out.append('<text transform="translate(%.1f,%.1f) rotate(-90)" fill="#999" '
                           'font-size="10">%s</text>' % (x + bar_w * 0.7, base_y - 4, esc(c)))
                continue
            v, lo, hi = c
            y = y_of(v)
            bar_colour, opacity = fill(g, s) if fill else _paint(colour)
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" '
                       'fill-opacity="%.2f"><title>%s, %s: %s</title></rect>'
                       % (x + 1, y, bar_w - 2, max(0.5, base_y - y), bar_colour, opacity,
                          esc(label), esc(sname), esc(tick_format(v))))
            if lo is not None and hi is not None and hi > lo:
                cx = x + bar_w / 2
                out.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#222"/>'
                           % (cx, cx, y_of(hi), y_of(lo)))
                for yy in (y_of(hi), y_of(lo)):
                    out.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#222"/>'
                               % (cx - 3, cx + 3, yy, yy))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#222">%s</text>'
                   % (gx + per_group / 2, base_y + 16, esc(label)))
    if reference is not None:
        y = y_of(reference)
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="4 3"/>'
                   % (left, width - right, y, y))
    # Legend
    lx = left
    ly = height - 14
    for sname, colour in series:
        colour, opacity = _paint(colour)
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s" fill-opacity="%.2f"/>'
                   % (lx, ly - 9, colour, opacity))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 14, ly, esc(sname)))
        lx += 18 + 7 * len(sname) + 10
    out.append("</svg>")
    return "\n".join(out)


def _paint(colour):
    return colour if isinstance(colour, tuple) else (colour, 1.0)


def _ok(r):
    return r["status"] == "ok" and r.get("summary")


def _short(r):
    return "n/a" if r["status"] == "n/a" else "failed"


def ratio_chart(doc, peer_names):
    scs = [s for s in doc["scenarios"] if s["value_key"] in ("rps", "mib_per_s")]
    if not scs:
        return ""

    def cell(g, s):
        r = scs[g]["peers"].get(peer_names[s])
        if r is None:
            return None
        if not _ok(r):
            return _short(r)
        ratio = (r.get("ratio_to_nginx") or {}).get(scs[g]["value_key"])
        if ratio is None:
            return "no nginx"
        ref = scs[g]["peers"]["nginx"]["summary"]["median"][scs[g]["value_key"]]
        lo = r["summary"]["min"][scs[g]["value_key"]] / ref
        hi = r["summary"]["max"][scs[g]["value_key"]] / ref
        return (ratio, lo, hi)
    return grouped_bars("Throughput relative to nginx (median; whiskers: min-max over repetitions)",
                        [s["id"] for s in scs], [(n, _color(n)) for n in peer_names], cell,
                        "x nginx (higher is better)", reference=1.0,
                        tick_format=lambda v: "%gx" % round(v, 2))


def scenario_charts(sc, peer_names):
    key = sc["value_key"]

    def value_cell(g, s):
        r = sc["peers"].get(peer_names[s])
        if r is None:
            return None
        if not _ok(r):
            return _short(r)
        return (r["summary"]["median"][key], r["summary"]["min"][key], r["summary"]["max"][key])
    lower = "" if sc.get("higher_is_better", True) else " (lower is better)"
    charts = [grouped_bars("%s: %s%s" % (sc["id"], sc["unit"], lower), [""],
                           [(n, _color(n)) for n in peer_names], lambda g, s: value_cell(0, s),
                           sc["unit"], bar_w=30, group_gap=30,
                           tick_format=_fmt_us if key.endswith("_us") else _fmt_tick)]
    if sc["kind"] == "load":
        names = [n for n in peer_names if n in sc["peers"]]

        def lat_cell(g, s):
            r = sc["peers"][names[g]]
            if not _ok(r):
                return _short(r) if s == 0 else None
            k = LATENCY_SHADES[s][0]
            v = r["summary"]["median"].get(k)
            if not v:
                return None
            return (v, r["summary"]["min"].get(k), r["summary"]["max"].get(k))
        series = [(label, ("#607d8b", alpha)) for _, label, alpha in LATENCY_SHADES]
        charts.append(grouped_bars(
            "%s: latency p50 / p99 / p99.9 (log scale)" % sc["id"], names, series, lat_cell,
            "latency", log_scale=True, tick_format=_fmt_us, bar_w=12,
            fill=lambda g, s: (_color(names[g]), LATENCY_SHADES[s][2])))
    return charts


def _num(v, key):
    if v is None:
        return "-"
    if key in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us"):
        return _fmt_us(v)
    if key == "rps":
        return "{:,.0f}".format(v)
    if key == "peak_rss_kb" or key.startswith("rss_"):
        return "%.1f MiB" % (v / 1024)
    if key == "errors":
        return "%d" % v
    return "{:,.2f}".format(v)


def scenario_table(sc, peer_names):
    key = sc["value_key"]
    if sc["kind"] == "idle":
        cols = [(key, sc["unit"]), ("rss_before_kb", "RSS before"), ("rss_after_kb", "RSS after")]
    else:
        cols = [(key, sc["unit"])] + ([("rps", "req/s")] if key != "rps" else []) + [
            ("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"),
            ("cpu_us_per_req", "CPU &micro;s/req"), ("peak_rss_kb", "peak RSS"), ("errors", "errors")]
        if key == "p99_us":
            cols.remove(("p99_us", "p99"))
    tool = {"keepalive": "wrk", "h2": "h2load"}.get(sc["id"])
    wrk = tool is not None and any(tool in r for r in sc["peers"].values())
    head = "".join("<th>%s</th>" % c[1] for c in cols)
    head = "<tr><th>peer</th>%s<th>&times; nginx (%s)</th>%s%s</tr>" % (
        head, esc(sc["unit"]), "" if sc["kind"] == "idle" else "<th>&times; nginx (CPU)</th>",
        "<th>%s req/s</th>" % tool if wrk else "")
    rows = [head]
    for name in peer_names:
        r = sc["peers"].get(name)
        if r is None:
            continue
        if not _ok(r):
            span = len(cols) + (2 if sc["kind"] != "idle" else 1) + (1 if wrk else 0)
            rows.append('<tr class="%s"><td>%s</td><td colspan="%d">%s: %s</td></tr>'
                        % ("na" if r["status"] == "n/a" else "failed", esc(name), span,
                           esc(r["status"]), esc(r["reason"])))
            continue
        med, lo, hi = r["summary"]["median"], r["summary"]["min"], r["summary"]["max"]
        cells = []
        for k, _ in cols:
            text = _num(med.get(k), k)
            if k == key and lo.get(k) != hi.get(k):
                text += ' <span class="spread">(%s&ndash;%s)</span>' % (_num(lo.get(k), k), _num(hi.get(k), k))
            cells.append("<td>%s</td>" % text)
        ratio = r.get("ratio_to_nginx") or {}
        cells.append("<td>%s</td>" % ("%.2f" % ratio[key] if key in ratio else "-"))
        if sc["kind"] != "idle":
            cells.append("<td>%s</td>" % ("%.2f" % ratio["cpu_us_per_req"] if "cpu_us_per_req" in ratio else "-"))
        if wrk:
            w = r.get(tool) or {}
            cells.append("<td>%s</td>" % (_num(w["rps"], "rps") if "rps" in w else esc(w.get("error", "-"))))
        rows.append('<tr><td><span class="dot" style="background:%s"></span>%s</td>%s</tr>'
                    % (_color(name), esc(name), "".join(cells)))
        note = rate_note(sc, med)
        if note:
            rows.append('<tr class="failed"><td>%s</td><td colspan="%d">%s</td></tr>'
                        % (esc(name), len(cells), esc(note)))
    return "<table>%s</table>" % "\n".join(rows)


CSS = """
body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px} h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
tr.na td{color:#777;text-align:left} tr.failed td{color:#b71c1c;text-align:left}
.spread{color:#777;font-size:11px} .dot{display:inline-block;width:10px;height:10px;margin-right:6px}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.meta td{text-align:left} code{background:#f4f4f4;padding:1px 4px}
"""


def render(doc):
    peer_names = list(doc["peers"].keys())
    s = doc["settings"]
    m = doc["machine"]
    parts = ["<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Rampart bench/compare</title>",
             "<style>%s</style></head><body>" % CSS,
             "<h1>Rampart side by side: bench/compare</h1>"]
    meta = [("command", "<code>%s</code>" % esc(" ".join(doc["command"]))),
            ("started", esc(doc["started"])),
            ("machine", esc("%s, %s cores, %s, kernel %s" % (m.get("cpu", "?"), m.get("cores_online"),
                                                            m.get("os", "?"), m.get("kernel")))),
            ("settings", esc("%s; %d repetition(s) of %gs, warm-up %gs, interleaved; proxy on core %d; "
                             "%s and %s on core %d" % ("quick" if s["quick"] else "full", s["reps"],
                                                       s["duration_s"], s["warmup_s"], s["proxy_core"],
                                                       s["upstream"], s["load_generator"], s["load_core"]))),
            ("commit", esc(m.get("git_commit", "?")))]
    for name, p in doc["peers"].items():
        tls = p.get("tls")
        extra = "" if not tls else "; TLS: %s %s, ALPN %s" % (tls["protocol"], tls["cipher"], tls["alpn"])
        meta.append((name, esc(p["version"] + extra)))
    parts.append('<table class="meta">%s</table>' % "".join(
        "<tr><th>%s</th><td>%s</td></tr>" % (esc(k), v) for k, v in meta))
    parts.append("<p>Each proxy runs one worker, pinned to its own core, in front of the same "
                 "upstream; every scenario starts every proxy afresh and checks that it returns "
                 "the upstream's body before timing it. Figures are medians over the repetitions; "
                 "whiskers and ranges show min&ndash;max. &times; nginx is the median divided by "
                 "nginx's median in the same run. CPU &micro;s/req is the user+system time of the "
                 "proxy's whole process tree during the measured run divided by the requests "
                 "completed. n/a cells say why the proxy cannot run the scenario.</p>")
    parts.append('<div class="charts">%s</div>' % ratio_chart(doc, peer_names))
    for sc in doc["scenarios"]:
        title = "%s &mdash; %s" % (esc(sc["id"]), esc(sc["title"]))
        parts.append("<h2>%s</h2><p>%s%s</p>" % (
            title, esc(sc["description"]),
            esc(" Rate: %d req/s (%s)." % (sc["rate"], sc["rate_basis"])) if sc.get("rate") else ""))
        parts.append('<div class="charts">%s</div>' % "".join(scenario_charts(sc, peer_names)))
        parts.append(scenario_table(sc, peer_names))
    parts.append("</body></html>")
    return "\n".join(parts)
