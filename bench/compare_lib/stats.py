"""Medians, spreads and ratios over repetitions."""

import statistics

SUMMARY_KEYS = ("rps", "mib_per_s", "kb_per_conn", "p50_us", "p90_us", "p99_us", "p999_us",
                "max_us", "cpu_us_per_req", "peak_rss_kb", "errors", "requests",
                "rss_before_kb", "rss_after_kb", "tls_resumed_pct")


def summarize(runs):
    """{"median": {...}, "min": {...}, "max": {...}} over the numeric keys the runs have."""
    out = {"median": {}, "min": {}, "max": {}}
    for key in SUMMARY_KEYS:
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if not values:
            continue
        out["median"][key] = statistics.median(values)
        out["min"][key] = min(values)
        out["max"][key] = max(values)
    return out


def ratios(median, reference):
    """median[k] / reference[k] for every key both have (reference non-zero)."""
    out = {}
    for key, value in median.items():
        ref = reference.get(key)
        if isinstance(ref, (int, float)) and ref != 0 and isinstance(value, (int, float)):
            out[key] = value / ref
    return out
