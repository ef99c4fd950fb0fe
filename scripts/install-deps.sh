#!/usr/bin/env bash
# Installs the Debian 12 packages Rampart needs to build and test, and nothing else.
#
#   scripts/install-deps.sh           build + test dependencies
#   scripts/install-deps.sh --bench   also the peers bench/compare measures (haproxy, caddy, h2o)
#   scripts/install-deps.sh --check   only report what is missing; exit 1 if anything is
#
# Idempotent: asks dpkg first and touches apt only when something is missing, so it is cheap to
# call at the start of every script and works without root when everything is already there.
# Installing needs root (run it with sudo, or as root on a fresh machine).
set -euo pipefail

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
}

bench=0
check_only=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    --check) check_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install-deps: unknown argument '$arg'" >&2; usage >&2; exit 64 ;;
  esac
done

# Build: compiler, CMake + Ninja, and the libraries. Boost 1.81 is used for its header-only
# Asio/Beast plus JSON and URL; the unversioned libboost-dev would pull 1.74, which conflicts with
# the 1.81 packages, so it must never be added here.
build_packages=(
  g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libnghttp2-dev libbrotli-dev zlib1g-dev libdeflate-dev
  libyaml-cpp-dev catch2 prometheus-cpp-dev libc-ares-dev libgoogle-perftools-dev
)
# Tests: the integration suite drives the real binaries with these tools; the bench/compare smoke
# test (tests/bench/) runs Python 3 and nginx, pinned with taskset (util-linux).
# nginx-light is only a transitional package depending on nginx in Debian 12, so ask for nginx.
test_packages=(curl nghttp2-client openssl procps iproute2 wrk python3 python3-grpcio nginx util-linux prometheus dnsmasq-base testssl.sh brotli)
# Benchmarks (bench/compare): the other peers we compare against.
bench_packages=(nginx haproxy caddy h2o wrk util-linux)

wanted=("${build_packages[@]}" "${test_packages[@]}")
if ((bench)); then
  wanted+=("${bench_packages[@]}")
fi

# A package counts as present only when dpkg says "install ok installed" (not merely known,
# half-configured or removed with its config files left).
is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
declare -A seen=()
for pkg in "${wanted[@]}"; do
  [[ -n "${seen[$pkg]:-}" ]] && continue
  seen[$pkg]=1
  is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#seen[@]} packages present"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if ((check_only)); then
  exit 1
fi
if ((EUID != 0)); then
  echo "install-deps: installing needs root; run: sudo $0 $*" >&2
  exit 1
fi

# Services packaged with their daemon (nginx, haproxy, caddy, h2o) would be started by their
# postinst; the benchmark runs its own instances on its own ports, and a start failure (port 80
# taken) would fail the install. Deny service starts for the duration, unless a policy already
# exists.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# Temporary, written by rampart scripts/install-deps.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

still_missing=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still_missing+=("$pkg")
done
if ((${#still_missing[@]} > 0)); then
  echo "install-deps: still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
echo "install-deps: installed ${#missing[@]} packages"
