#!/usr/bin/env bash
# Rampart vs nginx as a plain HTTP/1.1 reverse proxy, side by side in one run.
#
#   bench/compare-nginx.sh [--only rampart|nginx] [--duration S] [--reps N] [--warmup S]
#                          [--out FILE] [--keep]
#
# Setup (needs 2+ cores; install the tools with `scripts/install-deps.sh --bench`):
#   core 1: rampart-upstream --threads 1, and the load generator wrk -t1 -c64
#   core 0: the proxy under test, one worker (Rampart workers: 1; nginx worker_processes 1)
# Both proxies are started once, verified to return the upstream's body, warmed up, and then
# measured interleaved (rampart, nginx, rampart, nginx, ...) for REPS repetitions of DURATION
# seconds each. Per run: requests/s and p50/p99 latency from wrk, and the proxy's CPU time
# (utime + stime of its whole process tree, nginx master and worker included) per request.
# Prints a table of medians with rampart/nginx ratios and writes the runs as JSON.
# All traffic stays on 127.0.0.1 (ports 18000-18100); only processes started here are stopped.
#
# Environment:
#   DURATION (10) REPS (3) WARMUP (2, seconds per proxy before measuring) CONNECTIONS (64)
#   OUT (bench/results/compare-nginx.json)  BODY_SIZE (upstream body bytes; its default if unset)
#   PROXY_CORE (0) LOAD_CORE (1)  BUILD_DIR (build)  RAMPART_BIN  UPSTREAM_BIN  NGINX_BIN (nginx)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  sed -n '2,21s/^# \{0,1\}//p' "$0"
}

die() {
  echo "compare-nginx: $*" >&2
  exit 1
}

duration="${DURATION:-10}"
reps="${REPS:-3}"
warmup="${WARMUP:-2}"
connections="${CONNECTIONS:-64}"
out="${OUT:-$root/bench/results/compare-nginx.json}"
proxy_core="${PROXY_CORE:-0}"
load_core="${LOAD_CORE:-1}"
build_dir="${BUILD_DIR:-$root/build}"
rampart_bin="${RAMPART_BIN:-$build_dir/proxy/rampart}"
upstream_bin="${UPSTREAM_BIN:-$build_dir/bench/rampart-upstream}"
nginx_bin="${NGINX_BIN:-nginx}"
body_size="${BODY_SIZE:-}"
keep=0
proxies=(rampart nginx)

while (($# > 0)); do
  case "$1" in
    --only)
      [[ $# -ge 2 ]] || die "--only needs rampart or nginx"
      case "$2" in
        rampart | nginx) proxies=("$2") ;;
        *) die "--only takes rampart or nginx, not '$2'" ;;
      esac
      shift
      ;;
    --duration) [[ $# -ge 2 ]] || die "--duration needs seconds"; duration="$2"; shift ;;
    --reps) [[ $# -ge 2 ]] || die "--reps needs a count"; reps="$2"; shift ;;
    --warmup) [[ $# -ge 2 ]] || die "--warmup needs seconds"; warmup="$2"; shift ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a file"; out="$2"; shift ;;
    --keep) keep=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare-nginx: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
  esac
  shift
done

for n in "$duration" "$reps" "$warmup" "$connections" "$proxy_core" "$load_core"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "expected a whole number, got '$n'"
done
((duration > 0 && reps > 0)) || die "DURATION and REPS must be positive"
[[ -z "$body_size" || "$body_size" =~ ^[0-9]+$ ]] || die "BODY_SIZE must be a whole number"

# ---------------------------------------------------------------------------------------------
# Preconditions

for tool in taskset wrk curl ss pgrep; do
  command -v "$tool" >/dev/null || die "'$tool' not found; run scripts/install-deps.sh --bench"
done
cores="$(nproc)"
((cores >= 2)) || die "needs at least 2 cores (proxy on one, upstream and wrk on another); have $cores"
((proxy_core < cores && load_core < cores && proxy_core != load_core)) ||
  die "PROXY_CORE ($proxy_core) and LOAD_CORE ($load_core) must be different cores below $cores"
[[ -x "$upstream_bin" ]] || die "$upstream_bin not found; build first: scripts/build.sh"
for p in "${proxies[@]}"; do
  case "$p" in
    rampart) [[ -x "$rampart_bin" ]] || die "$rampart_bin not found; build first: scripts/build.sh" ;;
    nginx) command -v "$nginx_bin" >/dev/null || die "'$nginx_bin' not found; run scripts/install-deps.sh --bench" ;;
  esac
done
clk_tck="$(getconf CLK_TCK)"

# ---------------------------------------------------------------------------------------------
# Processes we start, and their cleanup

tmp="$(mktemp -d "${TMPDIR:-/tmp}/compare-nginx.XXXXXX")"
# nginx's worker runs as "nobody" when started by root: it must be able to reach its temp paths.
chmod 755 "$tmp"
started_pids=()
wrk_pid=""  # the load generator while it runs

# stop_pid PID: SIGTERM, then SIGKILL if it is still there after 10 s.
stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local i
  [[ -n "$wrk_pid" ]] && stop_pid "$wrk_pid"
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${started_pids[i]}"
  done
  if ((keep)); then
    echo "compare-nginx: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

used_ports=()
# pick_port: sets $picked_port to the first port in 18000-18100 that nothing listens on and that
# this run has not taken yet.
pick_port() {
  local port u taken
  for ((port = 18000; port <= 18100; port++)); do
    taken=0
    for u in "${used_ports[@]}"; do
      [[ "$u" == "$port" ]] && taken=1
    done
    ((taken)) && continue
    [[ -z "$(ss -Hltn "sport = :$port")" ]] || continue
    used_ports+=("$port")
    picked_port="$port"
    return 0
  done
  die "no free port in 18000-18100"
}

# wait_for PID DESCRIPTION COMMAND...: polls COMMAND for up to 10 s while PID is alive.
wait_for() {
  local pid="$1" what="$2"
  shift 2
  for _ in $(seq 100); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || die "$what exited during start-up (logs in $tmp; use --keep)"
    sleep 0.1
  done
  die "$what not ready after 10 s (logs in $tmp; use --keep)"
}

# fill_template IN OUT: replaces @TMP@, @PROXY_PORT@ and @UPSTREAM_PORT@.
fill_template() {
  sed -e "s|@TMP@|$tmp|g" -e "s|@PROXY_PORT@|$proxy_port|g" -e "s|@UPSTREAM_PORT@|$upstream_port|g" "$1" >"$2"
}

# ---------------------------------------------------------------------------------------------
# Start the upstream and the proxies

pick_port
upstream_port="$picked_port"
upstream_args=(--listen "127.0.0.1:$upstream_port" --threads 1 --name bench)
[[ -n "$body_size" ]] && upstream_args+=(--body-size "$body_size")
taskset -c "$load_core" "$upstream_bin" "${upstream_args[@]}" >"$tmp/upstream.out" 2>"$tmp/upstream.err" &
upstream_pid=$!
started_pids+=("$upstream_pid")
wait_for "$upstream_pid" "rampart-upstream" grep -q "^listening 127.0.0.1:$upstream_port" "$tmp/upstream.out"
expected_body="$(curl -fsS --max-time 5 "http://127.0.0.1:$upstream_port/")" || die "upstream does not answer"
[[ -n "$expected_body" ]] || die "upstream answered with an empty body"
echo "compare-nginx: upstream on 127.0.0.1:$upstream_port (core $load_core, pid $upstream_pid)" >&2

declare -A port_of=() pid_of=() version_of=()
for p in "${proxies[@]}"; do
  pick_port
  proxy_port="$picked_port"
  port_of[$p]="$proxy_port"
  case "$p" in
    rampart)
      fill_template "$root/bench/peers/rampart.yaml.template" "$tmp/rampart.yaml"
      timeout 10 "$rampart_bin" check -c "$tmp/rampart.yaml" >"$tmp/rampart-check.out" 2>&1 ||
        die "rampart rejects the bench config: $(cat "$tmp/rampart-check.out")"
      version_of[$p]="$(timeout 10 "$rampart_bin" version 2>&1 | head -n 1)"
      taskset -c "$proxy_core" "$rampart_bin" -c "$tmp/rampart.yaml" >"$tmp/rampart.out" 2>"$tmp/rampart.err" &
      pid_of[$p]=$!
      started_pids+=("${pid_of[$p]}")
      wait_for "${pid_of[$p]}" "rampart" grep -q "^rampart: ready" "$tmp/rampart.err"
      ;;
    nginx)
      fill_template "$root/bench/peers/nginx.conf.template" "$tmp/nginx.conf"
      timeout 10 "$nginx_bin" -t -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" >"$tmp/nginx-check.out" 2>&1 ||
        die "nginx rejects the bench config: $(cat "$tmp/nginx-check.out")"
      version_of[$p]="$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')"
      taskset -c "$proxy_core" "$nginx_bin" -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" \
        >"$tmp/nginx.out" 2>"$tmp/nginx.err" &
      pid_of[$p]=$!
      started_pids+=("${pid_of[$p]}")
      wait_for "${pid_of[$p]}" "nginx" curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$proxy_port/"
      ;;
  esac
  body="$(curl -fsS --max-time 5 "http://127.0.0.1:$proxy_port/")" || die "$p does not answer on port $proxy_port"
  [[ "$body" == "$expected_body" ]] || die "$p returned a body other than the upstream's: $(head -c 200 <<<"$body")"
  echo "compare-nginx: $p on 127.0.0.1:$proxy_port (core $proxy_core, pid ${pid_of[$p]}): ${version_of[$p]}; proxies OK" >&2
done

# ---------------------------------------------------------------------------------------------
# Measurement

# cpu_ticks PID: utime + stime, in clock ticks, of PID and all its descendants.
cpu_ticks() {
  local total=0 pid stat rest child
  local -a fields queue=("$1")
  while ((${#queue[@]} > 0)); do
    pid="${queue[0]}"
    queue=("${queue[@]:1}")
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    # The command name (field 2) may hold spaces: split after its closing parenthesis, where
    # field 3 (state) comes first, so utime (14) and stime (15) are at 11 and 12.
    rest="${stat##*) }"
    read -r -a fields <<<"$rest"
    total=$((total + fields[11] + fields[12]))
    for child in $(pgrep -P "$pid" || true); do
      queue+=("$child")
    done
  done
  echo "$total"
}

# to_ms VALUE: wrk's "812.00us" / "1.23ms" / "1.05s" / "1.00m" as milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

results="$tmp/results.tsv"  # proxy rep requests rps p50_ms p99_ms cpu_us_per_req errors
: >"$results"

# run_wrk PROXY SECONDS LOG: the load, from the load core, against PROXY.
# It runs in the background so that a signal to this script is handled at once (cleanup stops it).
run_wrk() {
  taskset -c "$load_core" wrk -t1 -c"$connections" -d"$2s" --latency "http://127.0.0.1:${port_of[$1]}/" >"$3" 2>&1 &
  wrk_pid=$!
  local rc=0
  wait "$wrk_pid" || rc=$?
  wrk_pid=""
  ((rc == 0)) || die "wrk failed against $1 (exit $rc): $(tail -n 5 "$3")"
}

# measure PROXY REP: one timed run, appended to $results.
measure() {
  local p="$1" rep="$2" log="$tmp/wrk-$1-$2.txt" before after requests rps p50 p99 errors cpu
  before="$(cpu_ticks "${pid_of[$p]}")"
  run_wrk "$p" "$duration" "$log"
  after="$(cpu_ticks "${pid_of[$p]}")"
  kill -0 "${pid_of[$p]}" 2>/dev/null || die "$p died during the run"
  requests="$(awk '/ requests in / { print $1 }' "$log")"
  rps="$(awk '/^Requests\/sec:/ { print $2 }' "$log")"
  p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$log")")"
  p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$log")")"
  errors="$(awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
                 /Non-2xx or 3xx responses:/ { n += $5 } END { print n + 0 }' "$log")"
  [[ -n "$requests" && -n "$rps" ]] || die "could not read wrk's output: $(cat "$log")"
  ((requests > 0)) || die "$p completed no requests"
  cpu="$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$requests" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$rep" "$requests" "$rps" "$p50" "$p99" "$cpu" "$errors" >>"$results"
  printf 'compare-nginx: %-8s rep %d: %10.0f req/s  p50 %8.3f ms  p99 %8.3f ms  cpu %7.2f us/req  errors %s\n' \
    "$p" "$rep" "$rps" "$p50" "$p99" "$cpu" "$errors" >&2
  if ((errors > 0)); then
    echo "compare-nginx: warning: $p had $errors errors (socket errors or non-2xx) in rep $rep" >&2
  fi
}

if ((warmup > 0)); then
  for p in "${proxies[@]}"; do
    echo "compare-nginx: warming up $p for ${warmup}s" >&2
    run_wrk "$p" "$warmup" "$tmp/wrk-$p-warmup.txt"
  done
fi
for ((rep = 1; rep <= reps; rep++)); do
  for p in "${proxies[@]}"; do
    measure "$p" "$rep"
  done
done

# ---------------------------------------------------------------------------------------------
# Report

# median PROXY COLUMN: the median of one column (3 = requests ... 8 = errors) over PROXY's runs.
median() {
  awk -F'\t' -v p="$1" -v c="$2" '$1 == p { print $c }' "$results" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m }'
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "null"; else printf "%.3f", a / b }'
}

declare -A med_rps=() med_p50=() med_p99=() med_cpu=()
for p in "${proxies[@]}"; do
  med_rps[$p]="$(median "$p" 4)"
  med_p50[$p]="$(median "$p" 5)"
  med_p99[$p]="$(median "$p" 6)"
  med_cpu[$p]="$(median "$p" 7)"
done

echo
echo "Medians over $reps runs of ${duration}s, wrk -t1 -c$connections, proxy on core $proxy_core (1 worker)"
printf '%-16s %12s %10s %10s %14s\n' proxy "req/s" "p50 ms" "p99 ms" "CPU us/req"
for p in "${proxies[@]}"; do
  printf '%-16s %12.0f %10.3f %10.3f %14.2f\n' "$p" "${med_rps[$p]}" "${med_p50[$p]}" "${med_p99[$p]}" "${med_cpu[$p]}"
done
compared=0
if [[ -n "${med_rps[rampart]:-}" && -n "${med_rps[nginx]:-}" ]]; then
  compared=1
  r_rps="$(ratio "${med_rps[rampart]}" "${med_rps[nginx]}")"
  r_p50="$(ratio "${med_p50[rampart]}" "${med_p50[nginx]}")"
  r_p99="$(ratio "${med_p99[rampart]}" "${med_p99[nginx]}")"
  r_cpu="$(ratio "${med_cpu[rampart]}" "${med_cpu[nginx]}")"
  printf '%-16s %12s %10s %10s %14s\n' "rampart/nginx" "$r_rps" "$r_p50" "$r_p99" "$r_cpu"
  echo "(rampart is better where the req/s ratio is above 1 and the latency and CPU ratios below 1)"
fi

json_string() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}

mkdir -p "$(dirname "$out")"
{
  printf '{\n'
  printf '  "benchmark": "compare-nginx",\n'
  printf '  "date": %s,\n' "$(json_string "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
  printf '  "machine": {"cpu": %s, "cores": %d, "kernel": %s},\n' \
    "$(json_string "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)")" "$cores" \
    "$(json_string "$(uname -r)")"
  printf '  "params": {"duration_s": %d, "reps": %d, "warmup_s": %d, "connections": %d, "wrk_threads": 1, ' \
    "$duration" "$reps" "$warmup" "$connections"
  printf '"proxy_core": %d, "load_core": %d, "proxy_workers": 1, "upstream_threads": 1, "body_size": %s},\n' \
    "$proxy_core" "$load_core" "${body_size:-null}"
  printf '  "wrk": %s,\n' "$(json_string "$(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }')")"
  printf '  "proxies": {'
  sep=""
  for p in "${proxies[@]}"; do
    printf '%s\n    "%s": {\n      "version": %s,\n      "runs": [' "$sep" "$p" "$(json_string "${version_of[$p]}")"
    awk -F'\t' -v p="$p" '$1 == p {
        printf "%s\n        {\"rep\": %d, \"requests\": %d, \"rps\": %s, \"p50_ms\": %s, \"p99_ms\": %s, \"cpu_us_per_req\": %s, \"errors\": %d}",
          (n++ ? "," : ""), $2, $3, $4, $5, $6, $7, $8 }' "$results"
    printf '\n      ],\n      "median": {"rps": %s, "p50_ms": %s, "p99_ms": %s, "cpu_us_per_req": %s}\n    }' \
      "${med_rps[$p]}" "${med_p50[$p]}" "${med_p99[$p]}" "${med_cpu[$p]}"
    sep=","
  done
  printf '\n  },\n'
  if ((compared)); then
    printf '  "ratio_rampart_over_nginx": {"rps": %s, "p50_ms": %s, "p99_ms": %s, "cpu_us_per_req": %s}\n' \
      "$r_rps" "$r_p50" "$r_p99" "$r_cpu"
  else
    printf '  "ratio_rampart_over_nginx": null\n'
  fi
  printf '}\n'
} >"$out"
echo "compare-nginx: wrote $out" >&2
