#!/usr/bin/env bash
# Build edgetel's compiled modules with AddressSanitizer and UndefinedBehaviorSanitizer in a scratch copy of the
# tree and run the tests that drive them (differential, fuzz and hostile-input tests) against that build.
# An out-of-bounds read, a use after free or undefined behaviour aborts the run (PYTHONMALLOC=malloc: objects get
# their own allocations, so reading past a small bytes object is seen too). Tests that run the agent as a
# subprocess are left out (timing-bound; the sanitizer slows everything). Extra arguments go to pytest.
#   scripts/sanitize.sh            (after scripts/setup.sh; test.sh runs it under CI=true)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIBASAN=$(gcc -print-file-name=libasan.so)
if [ ! -f "$LIBASAN" ]; then
  echo "sanitize: gcc's libasan is not installed; skipped" >&2
  [ "${CI:-}" = true ] && exit 1 || exit 0
fi
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
git ls-files -z | xargs -0 -I{} cp --parents {} "$SCRATCH"
for f in $(git ls-files --others --exclude-standard); do cp --parents "$f" "$SCRATCH"; done
cd "$SCRATCH"
"$ROOT/.venv/bin/python" - <<'PY'
from pathlib import Path
from setuptools import Extension, setup
native = Path("src/edgetel/_native")
flags = ["-O1", "-g", "-std=c11", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
         "-fno-omit-frame-pointer", "-fno-strict-aliasing"]
setup(script_args=["-q", "build_ext", "--inplace"], ext_modules=[
    Extension(f"edgetel._native.{c.stem}", [str(c)], depends=[str(h) for h in native.glob("*.h")],
              extra_compile_args=flags, extra_link_args=["-fsanitize=address,undefined"])
    for c in sorted(native.glob("*.c"))])
PY
TESTS=(tests/core/test_native.py tests/statsd_receiver tests/tailsampling tests/spanmetrics tests/redaction)
PYTHONMALLOC=malloc LD_PRELOAD=$LIBASAN ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  PYTHONPATH="$SCRATCH/src" EDGETEL_REQUIRE_NATIVE=1 \
  "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider --rootdir "$SCRATCH" -W ignore -k "not agent" "${TESTS[@]}" "$@"
