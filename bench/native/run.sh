#!/bin/sh
# Builds and runs the native allocator benchmark (glibc malloc, mimalloc and
# refheap's core in one process). Installs nothing. Arguments go to
# alloc_bench: --help lists them, --quick is a smoke run (not a measurement).
set -eu
cd "$(dirname "$0")"
CXX="${CXX:-g++}"
if ! printf '#include <mimalloc.h>\nint main() { return mi_version() > 0 ? 0 : 1; }\n' |
    "$CXX" -x c++ - -o /dev/null -lmimalloc >/dev/null 2>&1; then
  echo "run.sh: mimalloc (headers and libmimalloc.so) not found." >&2
  echo "        On Debian/Ubuntu: apt-get install -y libmimalloc-dev" >&2
  exit 1
fi
make -s CXX="$CXX"
exec ./out/alloc_bench "$@"
