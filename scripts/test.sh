#!/usr/bin/env bash
# Builds Rampart twice and runs the whole test suite against each build:
#   1. Release in build/        -> ctest
#   2. ASan + UBSan in build-asan/ -> ctest (leaks, memory errors and UB fail the run)
# plus a check that the shipped config (config/rampart.yaml with conf.d/) is valid.
#
#   scripts/test.sh [--release-only | --asan-only]
#
# Environment: CTEST_JOBS (default 2), TEST_TIMEOUT seconds per test without its own (default 300).
# Exits non-zero if any build, test or check fails; the last line is "tests: N passed, M failed".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
}

variants=(release asan)
for arg in "$@"; do
  case "$arg" in
    --release-only) variants=(release) ;;
    --asan-only) variants=(asan) ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test: unknown argument '$arg'" >&2; usage >&2; exit 64 ;;
  esac
done

ctest_jobs="${CTEST_JOBS:-2}"
test_timeout="${TEST_TIMEOUT:-300}"

bash scripts/install-deps.sh

total_passed=0
total_failed=0
summaries=()
status=0

# run_ctest NAME DIR: runs the suite in DIR, records its summary line and adds to the totals.
run_ctest() {
  local name="$1" dir="$2" log="$2/ctest-output.log" rc=0
  echo "== $name: ctest in $dir"
  (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$ctest_jobs" --timeout "$test_timeout") 2>&1 |
    tee "$log" || rc=$?
  # "100% tests passed, 0 tests failed out of 42"
  local line
  line="$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
  if [[ -z "$line" ]]; then
    summaries+=("$name: ctest produced no summary (exit $rc)")
    total_failed=$((total_failed + 1))
    status=1
    return
  fi
  local failed total
  failed="$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  total="$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  total_passed=$((total_passed + total - failed))
  total_failed=$((total_failed + failed))
  summaries+=("$name: $line")
  if ((rc != 0 || failed != 0)); then
    status=1
  fi
}

# check_config DIR: the default config and its includes must pass `rampart check`.
check_config() {
  local name="$1" dir="$2"
  echo "== $name: rampart check -c config/rampart.yaml"
  if "$dir/proxy/rampart" check -c config/rampart.yaml; then
    summaries+=("$name: config/rampart.yaml passes rampart check")
    total_passed=$((total_passed + 1))
  else
    summaries+=("$name: config/rampart.yaml FAILS rampart check")
    total_failed=$((total_failed + 1))
    status=1
  fi
}

for variant in "${variants[@]}"; do
  case "$variant" in
    release)
      dir="$(bash scripts/build.sh)" || { echo "test: Release build failed" >&2; exit 1; }
      run_ctest release "$dir"
      check_config release "$dir"
      ;;
    asan)
      dir="$(bash scripts/build.sh --sanitize)" || { echo "test: ASan+UBSan build failed" >&2; exit 1; }
      # Leak checks on; any UBSan finding stops the process with a stack trace, and ASan reports
      # carry symbolised stacks. Values already in the environment win.
      export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_init_order=1:check_initialization_order=1}"
      export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
      run_ctest asan "$dir"
      check_config asan "$dir"
      ;;
  esac
done

echo
echo "== summary"
for s in "${summaries[@]}"; do
  echo "$s"
done
echo "tests: $total_passed passed, $total_failed failed"
exit "$status"
