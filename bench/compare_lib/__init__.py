"""bench/compare: Rampart side by side with nginx, HAProxy, Caddy and h2o (see docs/benchmarks.md)."""
