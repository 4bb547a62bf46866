#!/usr/bin/env bash
# Build edgetel's compiled modules with AddressSanitizer and UndefinedBehaviorSanitizer in a scratch copy of the
# tree and run the tests that drive them (differential, fuzz and hostile-input tests) against that build.
# An out-of-bounds read, a use after free or undefined behaviour aborts the run (PYTHONMALLOC=malloc: objects get
# their own allocations, so reading past a small bytes object is seen too). Tests that run the agent as a
# subprocess are left out (timing-bound; the sanitizer slows everything). Extra arguments go to pytest.
#   scripts/sanitize.sh            (after scripts/setup.sh; test.sh runs it as its last step)
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
# setup.py's own build, with the sanitizers added to its flags (CFLAGS and LDFLAGS reach every extension)
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
CFLAGS="$SAN" LDFLAGS="$SAN" "$ROOT/.venv/bin/python" setup.py -q build_ext --inplace --force
TESTS=(tests/core/test_native.py tests/statsd_receiver tests/tailsampling tests/spanmetrics tests/redaction)
PYTHONMALLOC=malloc LD_PRELOAD=$LIBASAN ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  PYTHONPATH="$SCRATCH/src" EDGETEL_REQUIRE_NATIVE=1 \
  "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider --rootdir "$SCRATCH" -W ignore -k "not agent" "${TESTS[@]}" "$@"
