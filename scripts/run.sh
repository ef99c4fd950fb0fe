#!/usr/bin/env bash
# Runs the demo: installs what is missing, builds (Release, build/), starts the demo backends
# and then Rampart with config/rampart.yaml in the foreground.
#
#   scripts/run.sh [--no-build] [-- RAMPART_ARGS...]
#
# Backends (rampart-upstream): 127.0.0.1:9001 "demo" (config/rampart.yaml), 127.0.0.1:9002 and
# :9003 "api-1"/"api-2" (conf.d/example.yaml). Rampart listens on 0.0.0.0:8080.
# Ctrl-C or SIGTERM: Rampart drains and exits, then the backends are stopped. SIGHUP is passed
# on to Rampart (reload the config).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
}

build=1
rampart_args=()
while (($# > 0)); do
  case "$1" in
    --no-build) build=0 ;;
    --) shift; rampart_args=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
  esac
  shift
done

if ((build)); then
  bash scripts/install-deps.sh
  dir="$(bash scripts/build.sh -- rampart rampart-upstream)"
else
  dir="${BUILD_DIR:-$root/build}"
fi
rampart_bin="$dir/proxy/rampart"
upstream_bin="$dir/bench/rampart-upstream"
for bin in "$rampart_bin" "$upstream_bin"; do
  [[ -x "$bin" ]] || { echo "run: $bin is missing; build first (scripts/build.sh)" >&2; exit 1; }
done

logs="$(mktemp -d "${TMPDIR:-/tmp}/rampart-run.XXXXXX")"
upstream_pids=()
rampart_pid=""

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local pid
  for pid in "${upstream_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${upstream_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$logs"
}
trap cleanup EXIT

# start_upstream PORT NAME: starts one backend and waits until it reports it is listening.
start_upstream() {
  local port="$1" name="$2" out="$logs/upstream-$2.out" pid
  "$upstream_bin" --listen "127.0.0.1:$port" --name "$name" --threads 1 >"$out" 2>&1 &
  pid=$!
  upstream_pids+=("$pid")
  for _ in $(seq 100); do
    if grep -q "^listening 127.0.0.1:$port" "$out"; then
      echo "run: upstream $name on 127.0.0.1:$port (pid $pid)" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run: upstream $name did not start (is port $port taken?):" >&2
      cat "$out" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "run: upstream $name did not report listening within 10s" >&2
  exit 1
}

start_upstream 9001 demo
start_upstream 9002 api-1
start_upstream 9003 api-2

# Rampart runs as a child rather than through exec so that the backends can be stopped when it
# exits; signals for the script are handed on to it.
"$rampart_bin" -c config/rampart.yaml "${rampart_args[@]}" &
rampart_pid=$!
trap 'kill -TERM "$rampart_pid" 2>/dev/null || true' TERM INT
trap 'kill -HUP "$rampart_pid" 2>/dev/null || true' HUP
echo "run: rampart pid $rampart_pid; try: curl -i localhost:8080/" >&2

# `wait` returns early when a trapped signal arrives; keep waiting until Rampart is really gone.
while kill -0 "$rampart_pid" 2>/dev/null; do
  wait "$rampart_pid" || true
done
status=0
wait "$rampart_pid" || status=$?
echo "run: rampart exited with status $status" >&2
exit "$status"
