#!/usr/bin/env bash
# Set everything up and run the agent. Without arguments: the built-in default configuration.
# Host metrics land in $STATE_DIRECTORY (default ./.edgetel-state here; systemd sets it to /var/lib/edgetel).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export STATE_DIRECTORY=${STATE_DIRECTORY:-$PWD/.edgetel-state}
exec .venv/bin/edgetel run "$@"
