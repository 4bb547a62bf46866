#!/usr/bin/env bash
# Set everything up and run the whole suite: lint, type check, tests, sanitizer run of the compiled modules.
# Extra arguments go to pytest (and skip the sanitizer run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --peers
# under CI the compiled modules must be there: a missing one fails instead of falling back to Python
if [ "${CI:-}" = true ]; then export EDGETEL_REQUIRE_NATIVE=1; fi
echo "== ruff"; .venv/bin/ruff check setup.py src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/pytest -q "$@"
# the whole suite (no pytest arguments) also runs the compiled modules' tests under the sanitizers
if [ $# -eq 0 ]; then
  echo "== compiled modules under AddressSanitizer and UndefinedBehaviorSanitizer"; scripts/sanitize.sh
fi
