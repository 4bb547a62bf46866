#!/usr/bin/env bash
# Set up everything edgetel needs, from a fresh clone:
#   scripts/setup.sh            the virtual environment in .venv with edgetel and its test tools
#   scripts/setup.sh --peers    also the real test peers from Debian packages (Prometheus, node_exporter,
#                               collectd, Chromium); needs root, which CI and these machines have
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--peers" ]; then
  PEERS=(gcc python3-dev prometheus prometheus-node-exporter collectd-core chromium systemd debootstrap python3-venv openssl)
  missing=()
  for p in "${PEERS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing test peers: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      # Debian starts these as services where it can; the tests start their own on free loopback ports.
      for svc in prometheus prometheus-node-exporter; do
        pkill -x "$svc" 2>/dev/null || true
      done
    else
      echo "warning: test peers not installed (${missing[*]}): not root or no apt-get; their tests will skip" >&2
    fi
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.edgetel-installed
# reinstall when the project's metadata or a compiled module's source changed (setup.py builds src/edgetel/_native/*.c)
if [ ! -f "$stamp" ] || [ -n "$(find pyproject.toml setup.py src/edgetel/_native -newer "$stamp" \( -name '*.c' -o -name '*.h' -o -name '*.py' -o -name '*.toml' \) 2>/dev/null | head -1)" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 'setuptools>=77' wheel >/dev/null  # setuptools: for setup.py build_ext --inplace
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
