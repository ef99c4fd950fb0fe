#!/usr/bin/env bash
# Configures and builds Rampart with CMake + Ninja.
#
#   scripts/build.sh [--sanitize] [--debug] [--type TYPE] [--configure-only] [-- TARGET...]
#
#   (default)         Release build in build/
#   --sanitize        ASan + UBSan build in build-asan/ (RelWithDebInfo unless --debug/--type)
#   --debug           CMAKE_BUILD_TYPE=Debug
#   --type TYPE       any CMAKE_BUILD_TYPE (Release, Debug, RelWithDebInfo, MinSizeRel)
#   --configure-only  run the CMake configure step and stop
#   -- TARGET...      build only these targets (e.g. -- rampart rampart-upstream)
#
# Environment: BUILD_DIR overrides the directory, JOBS the parallelism (default: all cores).
# Prints the build directory on the last line of stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  sed -n '2,14s/^# \{0,1\}//p' "$0"
}

sanitize=0
build_type=""
configure_only=0
targets=()
while (($# > 0)); do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --debug) build_type=Debug ;;
    --type)
      [[ $# -ge 2 ]] || { echo "build: --type needs a value" >&2; exit 64; }
      build_type="$2"
      shift
      ;;
    --configure-only) configure_only=1 ;;
    --) shift; targets=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
  esac
  shift
done

if ((sanitize)); then
  dir="${BUILD_DIR:-$root/build-asan}"
  # Optimised enough to keep the tests quick, with debug info for readable sanitizer reports.
  build_type="${build_type:-RelWithDebInfo}"
  sanitize_flag=ON
else
  dir="${BUILD_DIR:-$root/build}"
  build_type="${build_type:-Release}"
  sanitize_flag=OFF
fi
jobs="${JOBS:-$(nproc)}"

echo "build: $build_type, sanitize=$sanitize_flag, dir=$dir, jobs=$jobs" >&2
cmake -S "$root" -B "$dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="$build_type" \
  -DRAMPART_SANITIZE="$sanitize_flag" \
  -DRAMPART_TESTS=ON >&2

if ((!configure_only)); then
  target_args=()
  for t in "${targets[@]}"; do
    target_args+=(--target "$t")
  done
  cmake --build "$dir" -j "$jobs" "${target_args[@]}" >&2
fi
echo "$dir"
